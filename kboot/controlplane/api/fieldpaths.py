"""Field sets for ``managedFields``: which leaf fields an object sets, in ``FieldsV1`` terms.

A path is a tuple of ``FieldsV1`` keys: ``f:<field>`` for a field, ``k:{"name":"c"}`` for an
item of a list-map (keyed by the schema's ``x-kubernetes-list-map-keys``), ``v:<json>`` for an
item of a set, and ``.`` for "the list item itself".  Lists without a list type are atomic: the
list is one leaf.  :func:`field_set` walks an object with its kind's schema;
:func:`to_fields_v1`/:func:`from_fields_v1` convert to and from the nested ``fieldsV1`` JSON;
:func:`value_at` (:class:`Values` for many paths) and :func:`remove_path` read and prune
objects by path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from kboot.controlplane.api.schemas import (
    KindRef,
    Schema,
    child,
    items,
    kind_schema,
    list_semantics,
)

Path = tuple[str, ...]
_MISSING: Any = object()
_UNSEEN: Any = object()
# metadata fields owned through managedFields (the rest are server-managed or identity)
_OWNED_METADATA = ("labels", "annotations", "finalizers", "ownerReferences")


# list-map key fields with a schema default: a missing key means the default (ports' protocol)
KEY_DEFAULTS = {"protocol": "TCP"}


def key_value(item: Mapping[str, Any], key: str) -> Any:
    """A list-map item's key field, defaulted as upstream's schema defaults it."""
    return item.get(key, KEY_DEFAULTS.get(key))


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def item_key(item: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    """The ``k:`` element of a list-map item."""
    return "k:" + _json({k: key_value(item, k) for k in keys
                         if k in item or k in KEY_DEFAULTS})


def field_set(kind: KindRef, obj: Mapping[str, Any], *, include_status: bool = False) -> set[Path]:
    """Leaf paths ``obj`` sets (``apiVersion``, ``kind``, identity metadata and, unless
    ``include_status``, ``status`` are left out, as the server manages them)."""
    out: set[Path] = set()
    schema = kind_schema(kind)
    for key, value in obj.items():
        if key in ("apiVersion", "kind") or value is None:
            continue
        if key == "status" and not include_status:
            continue
        if key == "metadata" and isinstance(value, Mapping):
            owned = {k: v for k, v in value.items() if k in _OWNED_METADATA and v is not None}
            if owned:
                _walk(owned, child(schema, key), ("f:metadata",), out)
            continue
        _walk(value, child(schema, key), (f"f:{key}",), out)
    return out


def _walk(value: Any, schema: Schema | None, path: Path, out: set[Path]) -> None:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            if item is not None:
                _walk(item, child(schema, key), (*path, f"f:{key}"), out)
        return
    if isinstance(value, list) and schema is not None:
        sem = list_semantics(schema)
        if sem.list_type == "map" and sem.keys:
            item_schema = items(schema)
            for entry in value:
                if isinstance(entry, Mapping):
                    base = (*path, item_key(entry, sem.keys))
                    out.add((*base, "."))
                    _walk_item(entry, item_schema, base, out)
            return
        if sem.list_type == "set":
            out.update((*path, "v:" + _json(v)) for v in value)
            return
    out.add(path)


def _walk_item(entry: Mapping[str, Any], schema: Schema | None, base: Path,
               out: set[Path]) -> None:
    for key, item in entry.items():
        if item is not None:
            _walk(item, child(schema, key), (*base, f"f:{key}"), out)


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """Nested ``fieldsV1`` JSON for a set of paths (leaves are ``{}``)."""
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for element in path:
            node = node.setdefault(element, {})
    return root


def from_fields_v1(tree: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    """The set of leaf paths in a ``fieldsV1`` tree."""
    out: set[Path] = set()
    for key, sub in tree.items():
        path = (*prefix, key)
        if isinstance(sub, Mapping) and sub:
            out |= from_fields_v1(sub, path)
        else:
            out.add(path)
    return out


def _find(container: Any, element: str) -> tuple[Any, Any]:
    """(value, index or key) of one path element within ``container``."""
    if element.startswith("f:") and isinstance(container, Mapping):
        key = element[2:]
        return (container[key], key) if key in container else (_MISSING, None)
    if element.startswith(("k:", "v:")) and isinstance(container, list):
        wanted = json.loads(element[2:])
        for i, item in enumerate(container):
            if element[0] == "v" and item == wanted:
                return item, i
            if element[0] == "k" and isinstance(item, Mapping) and all(
                    key_value(item, k) == v for k, v in wanted.items()):
                return item, i
    return _MISSING, None


def value_at(obj: Any, path: Path) -> Any:
    """The value at ``path`` (``None`` when absent); ``.`` yields the list item itself."""
    node = obj
    for element in path:
        if element == ".":
            continue
        node, _ = _find(node, element)
        if node is _MISSING:
            return None
    return node


class Values:
    """:func:`value_at` for many paths of one object: each path prefix is resolved once
    (the leaves of an object share most of their prefixes; :func:`~.apply.record_update`
    compares every leaf of two objects on every write)."""

    def __init__(self, obj: Any) -> None:
        self._nodes: dict[Path, Any] = {(): obj}

    def at(self, path: Path) -> Any:
        """``value_at(obj, path)``."""
        node = self._node(tuple(element for element in path if element != "."))
        return None if node is _MISSING else node

    def _node(self, path: Path) -> Any:
        node = self._nodes.get(path, _UNSEEN)
        if node is _UNSEEN:
            parent = self._node(path[:-1])
            node = _MISSING if parent is _MISSING else _find(parent, path[-1])[0]
            self._nodes[path] = node
        return node


def remove_path(obj: Any, path: Path) -> None:
    """Delete the field (or list item, for paths ending in ``.`` or ``v:``) in place."""
    if path and path[-1] == ".":
        path = path[:-1]
    node = obj
    for element in path[:-1]:
        node, _ = _find(node, element)
        if node is _MISSING:
            return
    if not path:
        return
    _, where = _find(node, path[-1])
    if where is not None:
        del node[where]


def render_path(path: Path) -> str:
    """Human form for conflict messages: ``.spec.containers[name="c"].image``."""
    out = ""
    for element in path:
        if element.startswith("f:"):
            out += "." + element[2:]
        elif element.startswith("k:"):
            keys = json.loads(element[2:])
            out += "[" + ",".join(f"{k}={_json(v)}" for k, v in keys.items()) + "]"
        elif element.startswith("v:"):
            out += f"[{element[2:]}]"
    return out
