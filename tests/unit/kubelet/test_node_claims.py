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


def test_local_path_provisions_and_binds(tmp_path: Path) -> None:
    client = FakeClient()

    async def go() -> tuple[dict, dict, dict[str, str]]:  # type: ignore[type-arg]
        await client.create("persistentvolumeclaims", {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "default"},
            "spec": {"storageClassName": "local-path", "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "2Gi"}}}})
        pod = {"metadata": {"name": "p", "namespace": "default"}, "spec": {"volumes": [
            {"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]}}
        paths = await claims.resolve_claims(client, pod, node="n1", base=str(tmp_path))
        again = await claims.resolve_claims(client, pod, node="n1", base=str(tmp_path))
        assert again == paths
        pvc = await client.get("persistentvolumeclaims", "data", namespace="default")
        pv = await client.get("persistentvolumes", pvc["spec"]["volumeName"])
        return pvc, pv, paths

    pvc, pv, paths = asyncio.run(go())
    assert pvc["status"]["phase"] == "Bound"
    assert pv["spec"]["capacity"] == {"storage": "2Gi"}
    term = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"][0]["values"] == ["n1"]
    assert paths["data"] == pv["spec"]["hostPath"]["path"]
    assert paths["data"].startswith(str(tmp_path))
    assert len(client.all("persistentvolumes")) == 1
