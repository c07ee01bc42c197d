"""The ``scale`` subresource of custom resources: ``autoscaling/v1`` Scale from and onto a CR.

A CRD's ``subresources.scale`` names where replicas live (``specReplicasPath``,
``statusReplicasPath``) and, optionally, a label selector string (``labelSelectorPath``) that
HPA and ``kubectl scale`` read.  As upstream, a path that finds nothing reads as 0 (or no
selector), and writing the Scale only sets the spec path — the status is the controller's.
"""

from __future__ import annotations

import copy
from typing import Any

from kboot.controlplane.api.crd.jsonpath import find, set_path
from kboot.controlplane.api.crd.numbers import go_repr, go_type
from kboot.controlplane.api.crd.paths import field_of
from kboot.controlplane.api.field_errors import FieldError, in_range, invalid

Obj = dict[str, Any]


def _int_at(obj: Obj, path: str | None) -> int:
    found = find(obj, path) if path else []
    value = found[0] if found else 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def scale_of(obj: Obj, scale: Obj) -> Obj:
    """The ``autoscaling/v1`` Scale of a custom resource."""
    meta = field_of(obj, "metadata")
    status: Obj = {"replicas": _int_at(obj, scale.get("statusReplicasPath"))}
    selector_path = scale.get("labelSelectorPath")
    if selector_path:
        found = find(obj, selector_path)
        if found and isinstance(found[0], str):
            status["selector"] = found[0]
    return {
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                          "creationTimestamp") if k in meta},
        "spec": {"replicas": _int_at(obj, scale.get("specReplicasPath"))},
        "status": status,
    }


def validate_scale(body: Obj) -> list[FieldError]:
    """A Scale write: ``spec.replicas`` a non-negative integer."""
    replicas = field_of(body, "spec").get("replicas")
    if replicas is None:
        return []
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        return [invalid("spec.replicas", replicas, "must be an integer")]
    return in_range("spec.replicas", replicas, 0)


def apply_scale(obj: Obj, scale: Obj, replicas: int) -> Obj:
    """A copy of ``obj`` with ``replicas`` written at ``specReplicasPath``."""
    out = copy.deepcopy(obj)
    set_path(out, str(scale.get("specReplicasPath", ".spec.replicas")), replicas)
    return out


_MAX_INT32 = 2**31 - 1


def replica_path_errors(obj: Obj, scale: Obj) -> list[FieldError]:
    """Upstream's ``ValidateScaleSpec``/``ValidateScaleStatus`` on every write: the replica
    paths hold non-negative int32s (or nothing) and the selector path a string."""
    errors: list[FieldError] = []
    for key in ("specReplicasPath", "statusReplicasPath"):
        path = scale.get(key)
        if not isinstance(path, str) or not path:
            continue
        found = _nested(obj, path)
        if found is None:
            continue
        if not isinstance(found, int) or isinstance(found, bool):
            errors.append(invalid(path, 0, f"{path} accessor error: {go_repr(found)} is of the "
                                           f"type {go_type(found)}, expected int64"))
        elif found < 0:
            errors.append(invalid(path, found, "should be a non-negative integer"))
        elif found > _MAX_INT32:
            errors.append(invalid(path, found, f"should be less than or equal to {_MAX_INT32}"))
    selector = scale.get("labelSelectorPath")
    if isinstance(selector, str) and selector:
        found = _nested(obj, selector)
        if found is not None and not isinstance(found, str):
            errors.append(invalid(selector, "", f"{selector} accessor error: {go_repr(found)} is "
                                                f"of the type {go_type(found)}, expected string"))
    return errors


def _nested(obj: Obj, path: str) -> Any:
    """The value at a dotted path (upstream's ``NestedFieldNoCopy``), None when absent."""
    node: Any = obj
    for part in path.lstrip(".").split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
