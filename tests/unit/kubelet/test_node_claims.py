"""Node status pieces and the local-path provisioner, over the fake API."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.kubelet import claims, node, status


def test_capacity_and_conditions(tmp_path: Path) -> None:
    cap = node.capacity(str(tmp_path), 110)
    assert int(cap["cpu"]) >= 1 and cap["memory"].endswith("Ki") and cap["pods"] == "110"
    conds = {c["type"]: c for c in node.conditions(False, "runtime down", str(tmp_path),
                                                       ts="2026-01-01T00:00:00Z")}
    assert conds["Ready"]["status"] == "False" and conds["Ready"]["reason"] == "KubeletNotReady"
    assert set(conds) == {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}


def test_qos_classes() -> None:
    def spec(res: dict) -> dict:  # type: ignore[type-arg]
        return {"containers": [{"name": "c", "resources": res}]}

    assert status.qos_class(spec({})) == "BestEffort"
    assert status.qos_class(spec({"requests": {"cpu": "1"}})) == "Burstable"
    assert status.qos_class(spec({"limits": {"cpu": "1", "memory": "1Gi"}})) == "Guaranteed"


def test_claims_resolve_to_bound_volumes_only(tmp_path: Path) -> None:
    """The kubelet never provisions: an unbound claim resolves to nothing (the pod waits)."""
    client = FakeClient()

    async def go() -> dict[str, str]:
        for name, volume in (("bound", "pv1"), ("unbound", "")):
            spec = {"storageClassName": "local-path", "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "2Gi"}}}
            if volume:
                spec["volumeName"] = volume
            await client.create("persistentvolumeclaims", {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "namespace": "default"}, "spec": spec})
        await client.create("persistentvolumes", {
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv1"},
            "spec": {"capacity": {"storage": "2Gi"},
                     "hostPath": {"path": str(tmp_path / "pv1")}}})
        pod = {"metadata": {"name": "p", "namespace": "default"}, "spec": {"volumes": [
            {"name": "a", "persistentVolumeClaim": {"claimName": "bound"}},
            {"name": "b", "persistentVolumeClaim": {"claimName": "unbound"}},
            {"name": "c", "persistentVolumeClaim": {"claimName": "missing"}}]}}
        return await claims.resolve_claims(client, pod)

    assert asyncio.run(go()) == {"bound": str(tmp_path / "pv1")}
    assert not client.all("persistentvolumes")[0]["spec"].get("claimRef")
