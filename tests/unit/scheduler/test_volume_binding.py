"""The VolumeBinding filter's decisions, and the scheduler's selected-node handshake with
WaitForFirstConsumer claims over the fake apiserver."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kboot.controlplane.api.storageclasses import SELECTED_NODE
from kboot.controlplane.client.clock import run_until_idle
from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.client.informer import Informers
from kboot.controlplane.scheduler.framework import Code
from kboot.controlplane.scheduler.plugins.volumes import (
    CONFLICT,
    VolumeCatalog,
    fits,
    pod_volumes,
)
from kboot.controlplane.scheduler.scheduler import Scheduler, StorageInformers
from kboot.controlplane.scheduler.snapshot import NodeInfo

from .test_plugins import Obj, node, pod


def sc(name: str, mode: str = "WaitForFirstConsumer") -> Obj:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": name}, "provisioner": "kboot.io/local-path",
            "volumeBindingMode": mode}


def claim(name: str, cls: str = "local-path", *, volume: str = "",
          selected: str = "", deleting: bool = False) -> Obj:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}"}
    if selected:
        meta["annotations"] = {SELECTED_NODE: selected}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec: dict[str, Any] = {"storageClassName": cls, "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}}}
    if volume:
        spec["volumeName"] = volume
    return {"metadata": meta, "spec": spec}


def pinned_pv(name: str, node_name: str) -> Obj:
    term = {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                                  "values": [node_name]}]}
    return {"metadata": {"name": name},
            "spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": f"/d/{name}"},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [term]}}}}


def using(*claims: str) -> Obj:
    p = pod("user")
    p["spec"]["volumes"] = [{"name": c, "persistentVolumeClaim": {"claimName": c}}
                            for c in claims]
    return p


CATALOG = VolumeCatalog(
    claims={f"ns/{c['metadata']['name']}": c for c in (
        claim("wffc"), claim("picked", selected="b"), claim("gone-node", selected="zz"),
        claim("bound", volume="pv-a"), claim("static", cls=""),
        claim("immediate", cls="fast"), claim("unknown", cls="nope"),
        claim("deleting", deleting=True), claim("lost", volume="pv-missing"))},
    volumes={"pv-a": pinned_pv("pv-a", "a")},
    classes={"local-path": sc("local-path"), "fast": sc("fast", "Immediate")})


@pytest.mark.parametrize(("claims", "on_a", "on_b", "reason"), [
    (("wffc",), True, True, ""),
    (("picked",), False, True, CONFLICT),  # a retry goes to the node already chosen
    (("gone-node",), True, True, ""),  # ...unless that node has left the cluster
    (("bound",), True, False, CONFLICT),  # the PV's node affinity
    (("bound", "wffc"), True, False, CONFLICT),
    (("bound", "picked"), False, False, CONFLICT),
    (("static",), False, False, "pod has unbound immediate PersistentVolumeClaims"),
    (("immediate",), False, False, "pod has unbound immediate PersistentVolumeClaims"),
    (("unknown",), False, False, 'storageclass.storage.k8s.io "nope" not found'),
    (("missing",), False, False, 'persistentvolumeclaim "missing" not found'),
    (("deleting",), False, False, 'persistentvolumeclaim "deleting" is being deleted'),
    (("lost",), False, False, 'persistentvolume "pv-missing" not found'),
])
def test_filter_decisions(claims: tuple[str, ...], on_a: bool, on_b: bool,
                          reason: str) -> None:
    volumes = pod_volumes(using(*claims), CATALOG, {"a", "b"})
    a, b = fits(volumes, NodeInfo.of(node("a"))), fits(volumes, NodeInfo.of(node("b")))
    assert (a.ok, b.ok) == (on_a, on_b)
    if reason:
        assert reason in {a.reason, b.reason}


def test_a_missing_class_is_retried_not_given_up() -> None:
    status = fits(pod_volumes(using("unknown"), CATALOG, {"a"}), NodeInfo.of(node("a")))
    assert status.code is Code.UNSCHEDULABLE


def test_wait_for_first_consumer_claims_are_provisioned_before_the_pod_binds() -> None:
    async def go() -> tuple[list[Obj], list[Obj], list[Obj]]:
        fake = FakeClient()
        for n in ("a", "b"):
            fake.seed("nodes", node(n))
        fake.seed("storageclasses", sc("local-path"))
        fake.seed("persistentvolumeclaims", claim("data"))
        informers = Informers(fake)
        storage = StorageInformers(claims=informers.get("persistentvolumeclaims"),
                                   volumes=informers.get("persistentvolumes"),
                                   classes=informers.get("storageclasses"))
        sched = Scheduler(fake, pods=informers.get("pods"), nodes=informers.get("nodes"),
                          storage=storage)
        informers.start()
        await informers.wait_synced(2)
        task = asyncio.create_task(sched.run())
        await fake.create("pods", using("data"))
        await fake.create("pods", {**using("other"), "metadata": {
            "name": "lost", "namespace": "ns"}})
        await fake.create("persistentvolumeclaims", claim("other", cls="nope"))
        await run_until_idle()
        chosen = (await fake.get("persistentvolumeclaims", "data", namespace="ns"))[
            "metadata"]["annotations"][SELECTED_NODE]
        assert (await fake.get("pods", "user", namespace="ns"))["spec"].get("nodeName") is None
        # what the provisioner and binder do: a PV on the chosen node, bound to the claim
        await fake.create("persistentvolumes", pinned_pv("pvc-uid-data", chosen))
        await fake.patch("persistentvolumeclaims", "data", namespace="ns",
                         patch={"spec": {"volumeName": "pvc-uid-data"}})
        await run_until_idle()
        await sched.recorder.flush()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await informers.stop()
        return (fake.all("pods", "ns"), fake.all("persistentvolumeclaims", "ns"),
                fake.all("events", "ns"))

    pods, claims, events = asyncio.run(go())
    placed = {p["metadata"]["name"]: p["spec"].get("nodeName") for p in pods}
    data = next(c for c in claims if c["metadata"]["name"] == "data")
    assert placed["user"] == data["metadata"]["annotations"][SELECTED_NODE]
    assert placed["lost"] is None
    failed = [e["message"] for e in events if e["reason"] == "FailedScheduling"
              and e["involvedObject"]["name"] == "lost"]
    assert failed and 'storageclass.storage.k8s.io "nope" not found' in failed[-1]
