"""The local-path provisioner's control-plane half over the fake apiserver: where volumes are
made, reclaim by policy, expansion, and the binder's WaitForFirstConsumer rule."""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api.storageclasses import (
    DATA_FINALIZER,
    PROVISIONED_BY,
    SELECTED_NODE,
    local_path_class,
    pinned_node,
)
from kboot.controlplane.controllers.provisioner import (
    LocalPathProvisioner,
    pick_node,
    provisioned_volume,
)
from kboot.controlplane.controllers.volumes import VolumeBinder

from .harness import Harness, Obj, run

IMMEDIATE = {**local_path_class(), "metadata": {"name": "now"}, "volumeBindingMode": "Immediate",
             "reclaimPolicy": "Retain"}


def claim(name: str = "data", cls: str = "local-path", *, selected: str = "",
          volume: str = "", size: str = "1Gi") -> Obj:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}"}
    if selected:
        meta["annotations"] = {SELECTED_NODE: selected}
    spec: Obj = {"storageClassName": cls, "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": size}}}
    if volume:
        spec["volumeName"] = volume
    return {"metadata": meta, "spec": spec}


def node(name: str, *, ready: bool = True, unschedulable: bool = False) -> Obj:
    return {"metadata": {"name": name}, "spec": {"unschedulable": unschedulable},
            "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


def test_the_volume_made_for_a_claim() -> None:
    pv = provisioned_volume(claim(size="3Gi"), local_path_class(), node="n2")
    assert pv["metadata"]["name"] == "pvc-uid-data"
    assert pv["metadata"]["finalizers"] == [DATA_FINALIZER]
    assert pv["metadata"]["annotations"][PROVISIONED_BY] == "kboot.io/local-path"
    assert pinned_node(pv) == "n2"
    assert pv["spec"]["hostPath"]["path"] == "/var/lib/kboot/local-path/pvc-uid-data_ns_data"
    assert pv["spec"]["capacity"] == {"storage": "3Gi"}
    assert pv["spec"]["claimRef"]["uid"] == "uid-data"
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert provisioned_volume(claim(), IMMEDIATE, node="n2")["spec"][
        "persistentVolumeReclaimPolicy"] == "Retain"


def test_immediate_classes_spread_over_usable_nodes() -> None:
    nodes = [node("a"), node("b"), node("c", ready=False), node("d", unschedulable=True)]
    assert pick_node(nodes, []) == "a"
    on_a = provisioned_volume(claim("x"), local_path_class(), node="a")
    assert pick_node(nodes, [on_a]) == "b"
    assert pick_node([node("c", ready=False)], []) is None


def test_provisions_on_the_selected_node_only() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("claim|ns/waiting")
        assert h.fake.all("persistentvolumes") == []  # no consumer scheduled yet
        await h.reconcile("claim|ns/picked")
        await h.reconcile("claim|ns/now")
        await h.reconcile("claim|ns/foreign")
        volumes = {pv["spec"]["claimRef"]["name"]: pv for pv in h.fake.all("persistentvolumes")}
        assert set(volumes) == {"picked", "now"}  # not "foreign": another provisioner's
        assert pinned_node(volumes["picked"]) == "b"
        assert pinned_node(volumes["now"]) == "a"
        await h.reconcile("claim|ns/picked")  # again: nothing new
        assert len(h.fake.all("persistentvolumes")) == 2

    run(LocalPathProvisioner, [
        ("nodes", node("a")), ("nodes", node("b")),
        ("storageclasses", local_path_class()), ("storageclasses", IMMEDIATE),
        ("storageclasses", {**local_path_class(), "metadata": {"name": "ext"},
                            "provisioner": "example.com/other"}),
        ("persistentvolumeclaims", claim("waiting")),
        ("persistentvolumeclaims", claim("picked", selected="b")),
        ("persistentvolumeclaims", claim("now", "now")),
        ("persistentvolumeclaims", claim("foreign", "ext", selected="a"))], body)


def released(name: str, policy: str, *, on: str = "a") -> Obj:
    pv = provisioned_volume(claim(name), local_path_class(), node=on)
    pv["spec"]["persistentVolumeReclaimPolicy"] = policy
    pv["status"] = {"phase": "Released"}
    return pv


def test_released_volumes_are_deleted_or_kept_by_policy() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("volume|pvc-uid-gone")
        await h.reconcile("volume|pvc-uid-kept")
        volumes = {pv["metadata"]["name"]: pv for pv in h.fake.all("persistentvolumes")}
        # the finalizer holds the object until the node's kubelet has removed the data
        assert volumes["pvc-uid-gone"]["metadata"].get("deletionTimestamp")
        assert not volumes["pvc-uid-kept"]["metadata"].get("deletionTimestamp")

    run(LocalPathProvisioner, [("nodes", node("a")),
                               ("persistentvolumes", released("gone", "Delete")),
                               ("persistentvolumes", released("kept", "Retain"))], body)


def test_a_deleted_volume_on_a_vanished_node_loses_its_finalizer() -> None:
    async def body(h: Harness) -> None:
        await h.fake.delete("persistentvolumes", "pvc-uid-orphan")
        await h.reconcile("volume|pvc-uid-orphan")
        assert h.fake.all("persistentvolumes") == []

    run(LocalPathProvisioner, [("nodes", node("a")),
                               ("persistentvolumes", released("orphan", "Delete", on="x"))],
        body)


def test_expansion_records_the_new_size() -> None:
    pv = provisioned_volume(claim(), local_path_class(), node="a")

    async def body(h: Harness) -> None:
        await h.reconcile("claim|ns/data")
        assert h.fake.all("persistentvolumes")[0]["spec"]["capacity"] == {"storage": "5Gi"}
        got = h.fake.all("persistentvolumeclaims", "ns")[0]
        assert got["status"]["capacity"] == {"storage": "5Gi"}

    run(LocalPathProvisioner, [("nodes", node("a")), ("storageclasses", local_path_class()),
                               ("persistentvolumes", pv),
                               ("persistentvolumeclaims", claim(volume=pv["metadata"]["name"],
                                                                size="5Gi"))], body)


def test_binder_binds_wait_for_first_consumer_claims_only_to_their_own_volume() -> None:
    static = {"metadata": {"name": "static"},
              "spec": {"storageClassName": "local-path", "accessModes": ["ReadWriteOnce"],
                       "capacity": {"storage": "10Gi"}, "hostPath": {"path": "/d"}}}
    mine = provisioned_volume(claim("mine"), local_path_class(), node="a")
    del mine["spec"]["claimRef"]["uid"]  # the fake gives seeded claims their own uids

    async def body(h: Harness) -> None:
        await h.reconcile("claim|ns/data")
        await h.reconcile("claim|ns/mine")
        claims = {c["metadata"]["name"]: c for c in h.fake.all("persistentvolumeclaims", "ns")}
        assert not claims["data"]["spec"].get("volumeName")
        assert claims["mine"]["spec"]["volumeName"] == mine["metadata"]["name"]
        assert claims["mine"]["status"]["phase"] == "Bound"
        await h.reconcile("claim|ns/nope")
        await h.controller.ctx.recorder.flush()
        reasons = {(e["involvedObject"]["name"], e["reason"]): e["message"]
                   for e in h.fake.all("events", "ns")}
        assert reasons[("nope", "ProvisioningFailed")] == \
            'storageclass.storage.k8s.io "nope" not found'
        assert ("data", "WaitForFirstConsumer") in reasons

    run(VolumeBinder, [("storageclasses", local_path_class()),
                       ("persistentvolumes", static), ("persistentvolumes", mine),
                       ("persistentvolumeclaims", claim("data")),
                       ("persistentvolumeclaims", claim("mine")),
                       ("persistentvolumeclaims", claim("nope", "nope"))], body)
