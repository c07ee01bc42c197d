"""``ReplicationController`` (core/v1): the ReplicaSet's predecessor, kept for what still
creates it (charts, ``kubectl run --generator`` era manifests, the Python client's e2e suite).

It differs from a ReplicaSet only in its selector: a plain label map (equality only) instead
of a ``LabelSelector``, defaulted from the template's labels, and mutable. Everything here is
upstream's ``SetDefaults_ReplicationController`` and ``ValidateReplicationController``; the
controller reuses the ReplicaSet's (:mod:`kboot.controlplane.controllers.replicaset`).
"""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api.field_errors import FieldError, in_range, required
from kboot.controlplane.api.validation_pods import validate_selector_and_template

Obj = dict[str, Any]


def rc_defaults(obj: Obj) -> None:
    """Selector and object labels from the template's labels when unset; one replica."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
    labels = (template.get("metadata") or {}).get("labels") if template else None
    if isinstance(labels, dict) and labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        metadata = obj.setdefault("metadata", {})
        if isinstance(metadata, dict) and not metadata.get("labels"):
            metadata["labels"] = dict(labels)
    spec.setdefault("replicas", 1)


def label_selector(selector: Any) -> Obj | None:
    """The ``LabelSelector`` an equality map means (``None`` stays ``None``: selects nothing)."""
    return {"matchLabels": dict(selector)} if isinstance(selector, dict) else None


def workload_selector(obj: Obj) -> Obj | None:
    """``spec.selector`` of a workload as a ``LabelSelector``: core/v1 controllers (apiVersion
    ``v1``) carry a plain map, every apps/v1 workload a selector object."""
    selector = (obj.get("spec") or {}).get("selector")
    return label_selector(selector) if obj.get("apiVersion") == "v1" else selector


def validate_replication_controller(obj: Obj, old: Obj | None) -> list[FieldError]:
    """A non-empty selector matching the template's labels, a valid template that restarts
    Always, no negative counts. The selector may change (unlike a ReplicaSet's)."""
    spec = obj.get("spec") or {}
    selector = spec.get("selector") or {}
    errors: list[FieldError] = []
    if not selector:
        errors.append(required("spec.selector"))
        lenient = {**spec, "selector": None}
        errors += validate_selector_and_template(lenient, need_selector=False)
    else:
        errors += validate_selector_and_template({**spec, "selector": label_selector(selector)},
                                                 kind="replicationcontroller")
    errors += in_range("spec.replicas", spec.get("replicas"), 0)
    errors += in_range("spec.minReadySeconds", spec.get("minReadySeconds"), 0)
    return errors
