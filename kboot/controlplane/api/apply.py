"""Server-side apply and ``managedFields`` bookkeeping (a simplified structured-merge-diff).

- :func:`server_side_apply` merges an applied configuration into the live object: maps merge,
  list-maps merge by their schema keys, sets union, atomic lists and scalars are replaced.  Each
  field is owned by the managers that set it.  Applying a field another manager owns with a
  different value is a conflict (:class:`ApplyConflict`, HTTP 409) unless ``force``, which takes
  the field over.  Fields the manager applied before and no longer applies are removed when no
  other manager owns them.  Same-valued fields are shared, never conflicting.
- :func:`record_update` keeps ``managedFields`` current on ordinary writes (create, update,
  patch): the writer becomes the owner of every field it changed.
- :func:`managed_fields_for` is the ``FieldsV1`` set of an object.

The caller (the apiserver) still defaults, validates and stores the result.  Identity metadata
(name, namespace, uid, resourceVersion…), ``apiVersion``/``kind`` and, on the main resource of
kinds with a status subresource, ``status`` are never owned.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kboot.controlplane.api.errors import ApplyConflict, ConflictCause
from kboot.controlplane.api.fieldpaths import (
    Path,
    Values,
    field_set,
    from_fields_v1,
    key_value,
    remove_path,
    render_path,
    to_fields_v1,
    value_at,
)
from kboot.controlplane.api.schemas import (
    KindRef,
    Schema,
    child,
    items,
    kind_schema,
    list_semantics,
    resolve_kind,
)

__all__ = ["ApplyConflict", "managed_fields_for", "record_update", "server_side_apply"]

Obj = dict[str, Any]
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_IDENTITY = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation",
             "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds")


def managed_fields_for(kind: KindRef, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The ``fieldsV1`` tree of the fields ``obj`` sets."""
    return to_fields_v1(field_set(kind, obj))


def _timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(manager: str, operation: str, api_version: str, now: datetime, paths: set[Path],
           subresource: str) -> Obj:
    out: Obj = {"manager": manager, "operation": operation, "apiVersion": api_version,
                "time": _timestamp(now), "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(paths)}
    if subresource:
        out["subresource"] = subresource
    return out


def _identity(entry: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(entry.get("manager", "")), str(entry.get("operation", "")),
            str(entry.get("subresource", "")))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _entries(obj: Mapping[str, Any] | None) -> list[tuple[Obj, set[Path]]]:
    found = _mapping(_mapping(obj).get("metadata")).get("managedFields")
    return [(dict(e), from_fields_v1(_mapping(e.get("fieldsV1")))) for e in found or ()
            if isinstance(e, Mapping)] if isinstance(found, list) else []


def _scope(kind: KindRef, obj: Mapping[str, Any], subresource: str, *,
           read_only: bool = False) -> Obj:
    """The part of ``obj`` a write through ``subresource`` may touch, nulls dropped.
    ``read_only``: the result shares the parts of ``obj`` that hold no null (for comparing:
    :func:`record_update` reads two whole objects on every write, copying them cost more)."""
    out: Obj = dict(_nulls_dropped(obj)) if read_only else _drop_nulls(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        if read_only:
            meta = out["metadata"] = dict(meta)
        for key in _IDENTITY:
            meta.pop(key, None)
    if subresource == "status":
        return {k: v for k, v in out.items() if k in ("apiVersion", "kind", "metadata", "status")}
    if "status" in resolve_kind(kind).subresources:
        out.pop("status", None)
    return out


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _nulls_dropped(value: Any) -> Any:
    """:func:`_drop_nulls`, but ``value`` itself when nothing in it changes."""
    if type(value) is dict:
        for item in value.values():
            if item is None or _nulls_dropped(item) is not item:
                return _drop_nulls(value)
        return value
    if type(value) is list:
        for item in value:
            if _nulls_dropped(item) is not item:
                return _drop_nulls(value)
        return value
    return _drop_nulls(value)


def server_side_apply(
    kind: KindRef,
    live: Mapping[str, Any] | None,
    applied: Mapping[str, Any],
    *,
    manager: str,
    force: bool = False,
    api_version: str,
    now: datetime,
    subresource: str = "",
) -> Obj:
    """The object after ``manager`` applies ``applied`` to ``live`` (``None``: create), with
    ``metadata.managedFields`` updated.  Raises :class:`ApplyConflict` on conflicts."""
    config = _scope(kind, applied, subresource)
    status = subresource == "status"
    applied_set = field_set(kind, config, include_status=status)
    mine = (manager, "Apply", subresource)
    entries = _entries(live)
    previous = next((paths for e, paths in entries if _identity(e) == mine), set())
    others = [(e, paths) for e, paths in entries if _identity(e) != mine]
    result: Obj = copy.deepcopy(dict(live)) if live is not None else {}
    if live is not None:
        allowed = _upgradable(kind, live) if manager == "kubectl" else set()
        _take_over(others, applied_set, config, live, manager=manager, force=force,
                   allowed=allowed)
        owned = set().union(*(paths for _, paths in others))
        _remove_released(result, {p for p in previous - applied_set
                                   if not _still_owned(p, owned)})
    result = _merge(result, config, kind_schema(kind))
    managed = [{**e, "fieldsV1": to_fields_v1(paths)} for e, paths in others if paths]
    managed.append(_entry(manager, "Apply", api_version, now, applied_set, subresource))
    if not isinstance(result.get("metadata"), dict):
        result["metadata"] = {}
    result["metadata"]["managedFields"] = managed
    return result


def _upgradable(kind: KindRef, live: Mapping[str, Any]) -> set[Path]:
    """Fields ``kubectl apply --server-side`` may take over without a conflict: those in the
    client-side apply annotation whose live value is still the last-applied one (upstream's
    upgrade path from client-side to server-side apply)."""
    text = _mapping(_mapping(live.get("metadata")).get("annotations")).get(LAST_APPLIED)
    if not isinstance(text, str):
        return set()
    try:
        last = json.loads(text)
    except ValueError:
        return set()
    if not isinstance(last, dict):
        return set()
    scoped = _scope(kind, last, "")
    return {p for p in field_set(kind, scoped) if value_at(scoped, p) == value_at(live, p)}


def _take_over(others: list[tuple[Obj, set[Path]]], applied_set: set[Path], config: Obj,
               live: Mapping[str, Any], *, manager: str, force: bool,
               allowed: set[Path]) -> None:
    """Find fields other managers own with another value; raise or (force) take them over."""
    conflicts: list[ConflictCause] = []
    taken: list[tuple[set[Path], Path]] = []
    for entry, paths in others:
        if entry.get("manager") == manager:
            continue
        for path in sorted(applied_set & paths):
            if path[-1] != "." and value_at(config, path) != value_at(live, path):
                if path not in allowed:
                    conflicts.append(ConflictCause(render_path(path), str(entry.get("manager")),
                                                   str(entry.get("apiVersion", ""))))
                taken.append((paths, path))
    if conflicts and not force:
        raise ApplyConflict(conflicts)
    for paths, path in taken:
        paths.discard(path)


def _remove_released(obj: Obj, released: set[Path]) -> None:
    """Remove released fields; a released list item goes whole (its fields with it)."""
    items_gone = {p[:-1] for p in released if p[-1] == "."}
    for path in sorted(released, key=lambda p: (-len(p), p)):
        inside_gone_item = any(path[: len(item)] == item and path != (*item, ".")
                               for item in items_gone)
        if not inside_gone_item:
            remove_path(obj, path)


def _still_owned(path: Path, owned: set[Path]) -> bool:
    """Another manager owns ``path`` or, for a list item, anything inside it."""
    if path in owned:
        return True
    if path[-1] == ".":
        prefix = path[:-1]
        return any(p[: len(prefix)] == prefix for p in owned)
    return False


def _merge(live: Any, applied: Any, schema: Schema | None) -> Any:
    if isinstance(live, dict) and isinstance(applied, Mapping):
        out = dict(live)
        for key, value in applied.items():
            out[key] = _merge(live.get(key), value, child(schema, key))
        return out
    if isinstance(live, list) and isinstance(applied, list):
        sem = list_semantics(schema)
        if sem.list_type == "map" and sem.keys:
            return _merge_list_map(live, applied, sem.keys, items(schema))
        if sem.list_type == "set":
            return live + [v for v in applied if v not in live]
    return copy.deepcopy(applied)


def _merge_list_map(live: list[Any], applied: list[Any], keys: tuple[str, ...],
                    schema: Schema | None) -> list[Any]:
    def ident(item: Any) -> str:  # JSON text: hashable even for malformed key values
        if isinstance(item, Mapping):
            return json.dumps([key_value(item, k) for k in keys], sort_keys=True, default=str)
        return "item:" + json.dumps(item, sort_keys=True, default=str)

    out = list(live)
    index = {ident(item): i for i, item in enumerate(out)}
    for item in applied:
        where = index.get(ident(item))
        if where is None:
            index[ident(item)] = len(out)
            out.append(copy.deepcopy(item))
        else:
            out[where] = _merge(out[where], item, schema)
    return out


def record_update(
    kind: KindRef,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    *,
    manager: str,
    operation: str = "Update",
    api_version: str,
    now: datetime,
    subresource: str = "",
) -> list[Obj]:
    """``managedFields`` for ``new`` after ``manager`` wrote it over ``old`` (``None``: create):
    the manager owns what it changed, others keep the rest, removed fields are forgotten."""
    status = subresource == "status"
    new_scope = _scope(kind, new, subresource, read_only=True)
    new_set = field_set(kind, new_scope, include_status=status)
    old_scope = _scope(kind, old, subresource, read_only=True) if old is not None else {}
    old_set = field_set(kind, old_scope, include_status=status) if old is not None else set()
    new_at, old_at = Values(new_scope).at, Values(old_scope).at
    changed = {p for p in new_set if p not in old_set
               or (p[-1] != "." and new_at(p) != old_at(p))}
    removed = old_set - new_set
    mine = (manager, operation, subresource)
    result: list[Obj] = []
    own: set[Path] = set()
    previous: Obj | None = None
    for entry, paths in _entries(old):
        if _identity(entry) == mine:
            own, previous = paths - removed, entry
            continue
        kept = paths - removed - changed
        if kept:
            result.append({**entry, "fieldsV1": to_fields_v1(kept)})
    if changed:
        result.append(_entry(manager, operation, api_version, now, own | changed, subresource))
    elif own and previous is not None:
        result.append({**previous, "fieldsV1": to_fields_v1(own)})
    return result
