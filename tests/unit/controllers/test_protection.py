"""The pure rules of the PVC/PV protection controllers."""

from __future__ import annotations

from typing import Any

from kboot.controlplane.controllers.protection import (
    PVC_PROTECTION,
    claim_in_use,
    finalizers_after,
)


def _pod(claim: str, *, node: str = "n1", phase: str = "Running") -> dict[str, Any]:
    return {"spec": {"nodeName": node, "volumes": [
        {"name": "d", "persistentVolumeClaim": {"claimName": claim}}, {"name": "e"}]},
        "status": {"phase": phase}}


def test_a_claim_is_used_by_scheduled_unfinished_pods_only() -> None:
    assert claim_in_use("db", [_pod("other"), _pod("db")])
    assert claim_in_use("db", [_pod("db", phase="Pending")])
    assert not claim_in_use("db", [_pod("other")])
    assert not claim_in_use("db", [_pod("db", node="")])
    assert not claim_in_use("db", [_pod("db", phase="Succeeded"), _pod("db", phase="Failed")])


def _obj(finalizers: list[str], deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"finalizers": finalizers}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta}


def test_finalizer_added_to_live_objects_and_removed_from_deleted_unprotected_ones() -> None:
    assert finalizers_after(_obj(["x"]), PVC_PROTECTION, protect=False) == ["x", PVC_PROTECTION]
    assert finalizers_after(_obj([PVC_PROTECTION]), PVC_PROTECTION, protect=False) is None
    deleted = _obj(["x", PVC_PROTECTION], deleting=True)
    assert finalizers_after(deleted, PVC_PROTECTION, protect=True) is None
    assert finalizers_after(deleted, PVC_PROTECTION, protect=False) == ["x"]
    assert finalizers_after(_obj([], deleting=True), PVC_PROTECTION, protect=False) is None
