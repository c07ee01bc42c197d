"""Admission of writes: server-populated metadata, spec/status split, generation, field
managers, defaulting and validation — the steps every create, update and patch shares.

Handlers call :func:`admit_create` and :func:`admit_update` with the kind's
:class:`~.strategy.Strategy` and the decoded object; the strategy supplies what differs per kind
(defaults, validation, unknown fields, status reset, generation policy, subresource rules), and
this module applies it in upstream's order and turns its findings into ``Status`` errors. It
names no kind.
"""

from __future__ import annotations

import copy
import datetime
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.apiserver.errors import JsonObj, StatusError, bad_request, invalid
from kboot.controlplane.apiserver.strategy import Strategy

if TYPE_CHECKING:
    from kboot.controlplane.apiserver.auth import UserInfo

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_META_IMMUTABLE = ("uid", "creationTimestamp", "namespace", "name", "selfLink",
                   "deletionTimestamp", "deletionGracePeriodSeconds", "generation")


@dataclass(frozen=True)
class WriteOptions:
    """Per-request write settings from the query string."""

    field_manager: str
    field_validation: str = "Strict"  # Strict | Warn | Ignore
    dry_run: bool = False


def rfc3339(moment: datetime.datetime) -> str:
    """A timestamp as API objects carry it (seconds, ``Z``)."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_type(strategy: Strategy, obj: JsonObj) -> None:
    """apiVersion/kind in the body must name the URL's kind (when given)."""
    kind = strategy.kind
    api_version, body_kind = obj.get("apiVersion"), obj.get("kind")
    if body_kind not in (None, "", kind.kind) or api_version not in (None, "", kind.api_version):
        raise bad_request(f'the API version in the data ({api_version}) does not match the '
                          f'expected API version ({kind.api_version})'
                          if body_kind in (None, "", kind.kind) else
                          f"{kind.kind} in version \"{kind.version}\" cannot be handled as a "
                          f"{body_kind}: no kind \"{body_kind}\" is registered for the request")
    if not isinstance(obj.get("metadata", {}), dict):
        raise bad_request("metadata must be an object")
    obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind


def field_warnings(strategy: Strategy, obj: JsonObj, duplicates: list[str],
                   opts: WriteOptions) -> list[str]:
    """Unknown and duplicate fields: 400 under Strict, warnings under Warn. Unknown fields are
    then dropped from ``obj`` (in place), as upstream never stores them."""
    kind = strategy.kind
    unknown = strategy.unknown_fields(obj)
    problems = [f'duplicate field "{d}"' for d in duplicates]
    problems += [f'unknown field "{f}"' for f in unknown]
    if problems and opts.field_validation == "Strict":
        raise bad_request(f"{kind.kind} in version \"{kind.version}\" cannot be handled as a "
                          f"{kind.kind}: strict decoding error: {', '.join(problems)}")
    for path in unknown:
        _prune(obj, path)
    return [] if opts.field_validation == "Ignore" else problems


_PATH_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _prune(obj: JsonObj, path: str) -> None:
    """Remove the field at ``spec.containers[0].foo``-style ``path`` (if it resolves)."""
    tokens: list[str | int] = [int(i) if i else name for i, name in _PATH_TOKEN.findall(path)]
    node: Any = obj
    for token in tokens[:-1]:
        found = ((isinstance(token, int) and isinstance(node, list) and token < len(node))
                 or (isinstance(token, str) and isinstance(node, dict) and token in node))
        if not found:
            return
        node = node[token]
    if tokens and isinstance(node, dict) and isinstance(tokens[-1], str):
        node.pop(tokens[-1], None)


def _generate_name(meta: JsonObj) -> None:
    if not meta.get("name") and meta.get("generateName"):
        suffix = "".join(secrets.choice(_NAME_CHARS) for _ in range(5))
        meta["name"] = f"{meta['generateName']}{suffix}"


def admit_create(strategy: Strategy, obj: JsonObj, *, namespace: str | None,
                 opts: WriteOptions, now: datetime.datetime, user: UserInfo | None = None,
                 applied: bool = False) -> JsonObj:
    """Fill server-owned metadata, default and validate a new object (422 on errors);
    ``user`` is who asked (None for objects the server creates itself)."""
    kind = strategy.kind
    meta = obj.setdefault("metadata", {})
    if kind.namespaced:
        body_ns = meta.get("namespace")
        if body_ns and namespace and body_ns != namespace:
            raise bad_request("the namespace of the provided object does not match the "
                              "namespace sent on the request")
        meta["namespace"] = namespace or body_ns
    else:
        meta.pop("namespace", None)
    _generate_name(meta)
    for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
        meta.pop(k, None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = rfc3339(now)
    if strategy.generation:
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    strategy.prepare_for_create(obj, user=user)
    obj = strategy.default(strategy.normalize(obj))
    _validate(strategy, obj, None)
    if not applied:  # server-side apply recorded its own Apply entry
        strategy.record_update(obj, None, manager=opts.field_manager, subresource=None, now=now)
    return obj


def _validate(strategy: Strategy, obj: JsonObj, old: JsonObj | None) -> None:
    causes = strategy.validate(obj, old)
    if causes:
        raise invalid(strategy.kind, (obj.get("metadata") or {}).get("name", ""), causes)


def admit_update(strategy: Strategy, old: JsonObj, new: JsonObj, *, subresource: str | None,
                 opts: WriteOptions, now: datetime.datetime, manager_op: str = "Update"
                 ) -> JsonObj:
    """Merge an incoming full object onto the stored one per the endpoint's rules."""
    kind = strategy.kind
    new = copy.deepcopy(new)
    meta = new.setdefault("metadata", {})
    old_meta = old.get("metadata") or {}
    if meta.get("name") not in (None, old_meta.get("name")):
        raise bad_request(f'the name of the object ({meta.get("name")}) does not match the '
                          f'name on the URL ({old_meta.get("name")})')
    for k in _META_IMMUTABLE:
        if k in old_meta:
            meta[k] = old_meta[k]
        else:
            meta.pop(k, None)
    meta["resourceVersion"] = old_meta.get("resourceVersion")
    if subresource in ("status", "approval"):
        incoming = new
        new = {**copy.deepcopy(old), "status": incoming.get("status")}
        if new["status"] is None:
            new.pop("status")
        strategy.prepare_for_update(new, old, subresource=subresource)
        new["metadata"]["managedFields"] = meta.get("managedFields", old_meta.get("managedFields"))
    elif "status" in kind.subresources:
        _keep_status(new, old)
    new = strategy.default(strategy.normalize(new))
    if strategy.generation:
        _bump_generation(old, new)
    _validate(strategy, new, old)
    if manager_op == "Update":
        base = old
        sent = (new.get("metadata") or {}).get("managedFields")
        if sent is not None and sent != old_meta.get("managedFields"):
            # the writer reset managedFields (e.g. kubectl's client-side → server-side apply
            # migration): its list is the new starting point
            base = {**old, "metadata": {**old_meta, "managedFields": sent}}
        strategy.record_update(new, base, manager=opts.field_manager, subresource=subresource,
                               now=now)
    return new


def _keep_status(new: JsonObj, old: JsonObj) -> None:
    if "status" in old:
        new["status"] = copy.deepcopy(old["status"])
    else:
        new.pop("status", None)


def _bump_generation(old: JsonObj, new: JsonObj) -> None:
    ignored = ("metadata", "status", "kind", "apiVersion")
    before = {k: v for k, v in old.items() if k not in ignored}
    after = {k: v for k, v in new.items() if k not in ignored}
    gen = int((old.get("metadata") or {}).get("generation") or 1)
    deleting = new["metadata"].get("deletionTimestamp") and not old["metadata"].get(
        "deletionTimestamp")
    new["metadata"]["generation"] = gen + 1 if before != after or deleting else gen


def ensure_rv_matches(kind: ResourceKind, body: JsonObj, current: JsonObj) -> None:
    """PUT with a resourceVersion must match the stored one (409 otherwise)."""
    from kboot.controlplane.apiserver.errors import conflict
    wanted = (body.get("metadata") or {}).get("resourceVersion")
    if wanted and str(wanted) != current["metadata"].get("resourceVersion"):
        raise conflict(kind, current["metadata"]["name"])


def is_being_removed(strategy: Strategy, obj: JsonObj) -> bool:
    """A deleting object with no finalizers left is removed, unless its kind still holds it
    (a scheduled pod until its grace is 0, a namespace until its content is gone)."""
    meta = obj.get("metadata") or {}
    if not meta.get("deletionTimestamp") or meta.get("finalizers"):
        return False
    return not strategy.holds_removal(obj)


def unwrap_api_error(err: Any) -> StatusError:
    return StatusError(err.code, err.reason, err.message)
