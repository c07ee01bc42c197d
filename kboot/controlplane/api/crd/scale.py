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
