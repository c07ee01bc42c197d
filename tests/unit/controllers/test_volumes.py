"""The PersistentVolume binder: matching table, binding, WaitForFirstConsumer claims, release."""

from __future__ import annotations

import pytest

from kboot.controlplane.controllers.volumes import VolumeBinder, best_volume, matches

from .harness import Harness, Obj, run


def claim(name: str = "data", *, cls: str = "manual", size: str = "1Gi",
          modes: tuple[str, ...] = ("ReadWriteOnce",)) -> Obj:
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"},
            "spec": {"storageClassName": cls, "accessModes": list(modes),
                     "resources": {"requests": {"storage": size}}}}


def volume(name: str, *, cls: str = "manual", size: str = "1Gi",
           modes: tuple[str, ...] = ("ReadWriteOnce",), ref: Obj | None = None) -> Obj:
    spec: Obj = {"storageClassName": cls, "accessModes": list(modes),
                 "capacity": {"storage": size}, "hostPath": {"path": f"/data/{name}"}}
    if ref:
        spec["claimRef"] = ref
    return {"metadata": {"name": name}, "spec": spec}


@pytest.mark.parametrize("pv,expected", [
    (volume("a"), True),
    (volume("a", size="2Gi"), True),
    (volume("a", size="500Mi"), False),
    (volume("a", cls="fast"), False),
    (volume("a", modes=("ReadWriteOnce", "ReadOnlyMany")), True),
    (volume("a", modes=("ReadOnlyMany",)), False),
    (volume("a", ref={"name": "other", "namespace": "ns"}), False),
    (volume("a", ref={"name": "data", "namespace": "ns"}), True),
])
def test_matching(pv: Obj, expected: bool) -> None:
    assert matches(claim(), pv) is expected


def test_best_volume_prefers_pre_bound_then_smallest() -> None:
    vols = [volume("big", size="10Gi"), volume("small", size="2Gi")]
    assert best_volume(claim(), vols)["metadata"]["name"] == "small"  # type: ignore[index]
    vols.append(volume("mine", size="20Gi", ref={"name": "data", "namespace": "ns"}))
    assert best_volume(claim(), vols)["metadata"]["name"] == "mine"  # type: ignore[index]


def test_binds_claims_by_class_and_releases() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("claim|ns/data")
        await h.reconcile("claim|ns/local")
        c = {x["metadata"]["name"]: x for x in h.fake.all("persistentvolumeclaims", "ns")}
        assert c["data"]["spec"]["volumeName"] == "pv1"
        assert c["data"]["status"]["phase"] == "Bound"
        assert "volumeName" not in c["local"]["spec"]
        pv = h.fake.all("persistentvolumes")[0]
        assert pv["spec"]["claimRef"]["name"] == "data"
        assert pv["status"]["phase"] == "Bound"
        await h.fake.delete("persistentvolumeclaims", "data", namespace="ns")
        await h.reconcile("volume|pv1")
        assert h.fake.all("persistentvolumes")[0]["status"]["phase"] == "Released"

    run(VolumeBinder, [("persistentvolumeclaims", claim()),
                       ("persistentvolumeclaims", claim("local", cls="local-path")),
                       ("persistentvolumes", volume("pv1"))], body)


def test_a_volume_bound_by_the_local_path_provisioner_is_marked_bound() -> None:
    local = claim("local", cls="local-path")
    local["spec"]["volumeName"] = "pvc-uid-local"  # what the kubelet's provisioner patched
    ref = {"namespace": "ns", "name": "local"}

    async def body(h: Harness) -> None:
        await h.reconcile("volume|pvc-uid-local")
        assert h.fake.all("persistentvolumes")[0]["status"]["phase"] == "Bound"
        await h.fake.delete("persistentvolumeclaims", "local", namespace="ns")
        await h.reconcile("volume|pvc-uid-local")
        assert h.fake.all("persistentvolumes")[0]["status"]["phase"] == "Released"

    run(VolumeBinder, [("persistentvolumeclaims", local),
                       ("persistentvolumes", volume("pvc-uid-local", cls="local-path",
                                                    ref=ref))], body)


def test_a_pre_bound_volume_becomes_available_then_bound() -> None:
    """A volume made for a claim (``claimRef``, phase Pending from defaulting) must become
    Available so the binder takes it; a pre-bound volume whose claim uid is gone is Released."""
    made = volume("made", ref={"namespace": "ns", "name": "data"})
    made["status"] = {"phase": "Pending"}
    orphan = volume("orphan", ref={"namespace": "ns", "name": "never", "uid": "u-x"})
    orphan["status"] = {"phase": "Pending"}

    async def body(h: Harness) -> None:
        await h.reconcile("volume|made")
        await h.reconcile("volume|orphan")
        phases = {v["metadata"]["name"]: v["status"]["phase"]
                  for v in h.fake.all("persistentvolumes")}
        assert phases == {"made": "Available", "orphan": "Released"}
        await h.reconcile("claim|ns/data")
        await h.reconcile("volume|made")
        assert h.fake.all("persistentvolumeclaims", "ns")[0]["spec"]["volumeName"] == "made"
        made_now = next(v for v in h.fake.all("persistentvolumes")
                        if v["metadata"]["name"] == "made")
        assert made_now["status"]["phase"] == "Bound"

    run(VolumeBinder, [("persistentvolumeclaims", claim()), ("persistentvolumes", made),
                       ("persistentvolumes", orphan)], body)
