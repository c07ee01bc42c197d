"""Object conventions the apiserver and controllers share: ``Status`` bodies, type and object
metadata, the generation rule and the spec/status split of kinds with a status subresource.

Write paths in the apiserver, in order:

- create: :func:`prepare_for_create` → ``apply_defaults`` → ``validate`` → store;
- update/patch of the main resource: :func:`prepare_for_update` (keeps the stored status,
  bumps ``generation`` when the spec changed) → ``apply_defaults`` → ``validate(old=…)``;
- update/patch of ``/status``: :func:`prepare_for_status_update` (keeps the stored spec and
  metadata, takes only ``status``) → ``validate(old=…)``.

Every error the API answers with is a ``Status`` built here (:func:`status_error` and the named
helpers, or :func:`status_for_rule_error` for the errors of this package).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from typing import Any

from kboot.controlplane.api.errors import ApiRuleError, ApplyConflict
from kboot.controlplane.api.field_errors import FieldError, invalid_message
from kboot.controlplane.api.schemas import KindRef, resolve_kind

Obj = dict[str, Any]

_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_NO_GENERATION = frozenset({"Event", "ConfigMap", "Secret", "Endpoints", "EndpointSlice",
                            "ServiceAccount", "Lease", "ControllerRevision", "Role", "RoleBinding",
                            "ClusterRole", "ClusterRoleBinding", "Namespace", "Node", "Pod"})


def type_meta(kind: KindRef) -> dict[str, str]:
    """``{"apiVersion": …, "kind": …}`` of a kind."""
    rk = resolve_kind(kind)
    return {"apiVersion": rk.api_version, "kind": rk.kind}


def has_status_subresource(kind: KindRef) -> bool:
    return "status" in resolve_kind(kind).subresources


def tracks_generation(kind: KindRef) -> bool:
    """Whether ``metadata.generation`` is maintained (workloads, services, storage, ingress)."""
    return resolve_kind(kind).kind not in _NO_GENERATION


def generated_name(prefix: str, *, rng: random.Random | None = None) -> str:
    """``generateName`` expansion: the prefix plus five random characters, as upstream."""
    chooser = rng or random.SystemRandom()
    return prefix + "".join(chooser.choice(_GENERATE_ALPHABET) for _ in range(5))


def owner_reference(owner: Mapping[str, Any], *, controller: bool = True,
                    block_owner_deletion: bool = True) -> Obj:
    """An ``ownerReferences`` entry pointing at ``owner`` (which must carry a uid)."""
    meta = owner.get("metadata") or {}
    return {"apiVersion": owner.get("apiVersion", ""), "kind": owner.get("kind", ""),
            "name": meta.get("name", ""), "uid": meta.get("uid", ""),
            "controller": controller, "blockOwnerDeletion": block_owner_deletion}


def controller_of(obj: Mapping[str, Any]) -> Obj | None:
    """The owner reference marked ``controller: true``, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if isinstance(ref, Mapping) and ref.get("controller"):
            return dict(ref)
    return None


def is_controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == (owner.get("metadata") or {}).get("uid")


def _spec_part(obj: Mapping[str, Any]) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def prepare_for_create(kind: KindRef, obj: Mapping[str, Any]) -> Obj:
    """A copy ready for defaulting: status dropped for kinds with a status subresource,
    ``generation`` 1 where tracked, server-owned metadata cleared."""
    out = copy.deepcopy(dict(obj))
    out.update(type_meta(kind))
    if has_status_subresource(kind):
        out.pop("status", None)
    meta = out.setdefault("metadata", {})
    for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "selfLink"):
        meta.pop(key, None)
    if tracks_generation(kind):
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    return out


def prepare_for_update(kind: KindRef, old: Mapping[str, Any], new: Mapping[str, Any]) -> Obj:
    """A copy of ``new`` for a write to the main resource: stored ``status`` kept (kinds with a
    status subresource), identity metadata kept, ``generation`` bumped if the spec changed."""
    out = copy.deepcopy(dict(new))
    out.update(type_meta(kind))
    if has_status_subresource(kind):
        if "status" in old:
            out["status"] = copy.deepcopy(old["status"])
        else:
            out.pop("status", None)
    meta = out.setdefault("metadata", {})
    old_meta = old.get("metadata") or {}
    for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    if tracks_generation(kind):
        generation = int(old_meta.get("generation") or 1)
        meta["generation"] = generation + (_spec_part(old) != _spec_part(out))
    return out


def prepare_for_status_update(kind: KindRef, old: Mapping[str, Any],
                              new: Mapping[str, Any]) -> Obj:
    """The stored object with only ``status`` taken from ``new`` (``/status`` writes)."""
    out = copy.deepcopy(dict(old))
    if "status" in new:
        out["status"] = copy.deepcopy(new["status"])
    else:
        out.pop("status", None)
    new_rv = (new.get("metadata") or {}).get("resourceVersion")
    if new_rv:
        out.setdefault("metadata", {})["resourceVersion"] = new_rv
    return out


# ------------------------------------------------------------------------------------ Status


def status_error(code: int, reason: str, message: str, *,
                 details: Mapping[str, Any] | None = None) -> Obj:
    """A failure ``Status`` (``kind: Status``, ``apiVersion: v1``)."""
    out: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code}
    if details:
        out["details"] = dict(details)
    return out


def status_success(*, details: Mapping[str, Any] | None = None) -> Obj:
    out: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        out["details"] = dict(details)
    return out


def _details(kind: KindRef, name: str) -> Obj:
    rk = resolve_kind(kind)
    return {"name": name, "group": rk.group, "kind": rk.plural}


def _resource(kind: KindRef) -> str:
    rk = resolve_kind(kind)
    return f"{rk.plural}.{rk.group}" if rk.group else rk.plural


def not_found(kind: KindRef, name: str) -> Obj:
    return status_error(404, "NotFound", f'{_resource(kind)} "{name}" not found',
                        details=_details(kind, name))


def already_exists(kind: KindRef, name: str) -> Obj:
    return status_error(409, "AlreadyExists", f'{_resource(kind)} "{name}" already exists',
                        details=_details(kind, name))


def conflict(kind: KindRef, name: str) -> Obj:
    """The stale-resourceVersion 409."""
    return status_error(
        409, "Conflict",
        f'Operation cannot be fulfilled on {_resource(kind)} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        details=_details(kind, name))


def invalid(kind: KindRef, name: str, errors: list[FieldError]) -> Obj:
    """The 422 for validation errors, one cause per field error."""
    rk = resolve_kind(kind)
    details = {"name": name, "group": rk.group, "kind": rk.kind,
               "causes": [e.cause() for e in errors]}
    return status_error(422, "Invalid", invalid_message(rk.kind, name, errors), details=details)


def bad_request(message: str) -> Obj:
    return status_error(400, "BadRequest", message)


def expired(message: str) -> Obj:
    """410 for compacted resourceVersions and continue tokens."""
    return status_error(410, "Expired", message)


def method_not_allowed(message: str) -> Obj:
    return status_error(405, "MethodNotAllowed", message)


def status_for_rule_error(exc: ApiRuleError, *, kind: KindRef | None = None,
                          name: str = "") -> Obj:
    """The ``Status`` for an error raised by this package (selectors, patches, apply)."""
    if isinstance(exc, ApplyConflict):
        causes = [{"reason": "FieldManagerConflict", "message": c.owner, "field": c.field}
                  for c in exc.causes]
        details: Obj = {"causes": causes}
        if kind is not None:
            details.update(_details(kind, name))
        return status_error(409, "Conflict", exc.message, details=details)
    return status_error(exc.code, exc.reason, exc.message)
