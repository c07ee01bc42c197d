"""The kubelet's half of local-path reclaim: which deleted volumes' directories it removes,
and the removal (directory, then finalizer) over the fake apiserver."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from kboot.controlplane.api.storageclasses import DATA_FINALIZER, local_path_class
from kboot.controlplane.client.clock import run_until_idle
from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.client.informer import Informers
from kboot.controlplane.controllers.provisioner import provisioned_volume
from kboot.controlplane.kubelet.localpath import LocalPathCleaner, to_clean

Obj = dict[str, Any]


def volume(base: Path, name: str, *, node: str = "n1", deleting: bool = True,
           path: str | None = None) -> Obj:
    claim = {"metadata": {"name": name, "namespace": "ns", "uid": name},
             "spec": {"storageClassName": "local-path",
                      "resources": {"requests": {"storage": "1Gi"}}}}
    pv = provisioned_volume(claim, local_path_class(), node=node, base=str(base))
    if path is not None:
        pv["spec"]["hostPath"]["path"] = path
    if deleting:
        pv["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return pv


def test_what_a_node_removes(tmp_path: Path) -> None:
    base = str(tmp_path)
    assert to_clean(volume(tmp_path, "a"), node="n1", base=base) == f"{base}/pvc-a_ns_a"
    assert to_clean(volume(tmp_path, "a", deleting=False), node="n1", base=base) is None
    assert to_clean(volume(tmp_path, "a", node="n2"), node="n1", base=base) is None
    assert to_clean(volume(tmp_path, "a", path="/etc"), node="n1", base=base) is None
    assert to_clean(volume(tmp_path, "a", path=base), node="n1", base=base) is None
    other = volume(tmp_path, "a")
    other["metadata"]["finalizers"] = []
    assert to_clean(other, node="n1", base=base) is None


def test_removes_the_directory_then_the_finalizer(tmp_path: Path) -> None:
    mine, kept = volume(tmp_path, "mine"), volume(tmp_path, "kept", deleting=False)
    for pv in (mine, kept):
        data = Path(pv["spec"]["hostPath"]["path"])
        data.mkdir()
        (data / "file").write_text("x")

    async def go() -> list[Obj]:
        fake = FakeClient()
        for pv in (mine, kept):
            fake.seed("persistentvolumes", {**pv, "metadata": {
                k: v for k, v in pv["metadata"].items() if k != "deletionTimestamp"}})
        informers = Informers(fake)
        cleaner = LocalPathCleaner(fake, informers.get("persistentvolumes"), node="n1",
                                   base=str(tmp_path))
        informers.start()
        await informers.wait_synced(2)
        await fake.delete("persistentvolumes", mine["metadata"]["name"])
        await run_until_idle()
        await cleaner.settle()  # the removal runs in a worker thread
        await run_until_idle()
        await informers.stop()
        return fake.all("persistentvolumes")

    left = asyncio.run(go())
    assert [pv["metadata"]["name"] for pv in left] == [kept["metadata"]["name"]]
    assert not Path(mine["spec"]["hostPath"]["path"]).exists()
    assert (Path(kept["spec"]["hostPath"]["path"]) / "file").read_text() == "x"
    assert DATA_FINALIZER in left[0]["metadata"]["finalizers"]
