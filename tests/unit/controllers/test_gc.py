"""Garbage collector: background, foreground and orphan propagation."""

from __future__ import annotations

from kboot.controlplane.api.owners import owner_reference
from kboot.controlplane.client.api import DeleteOptions
from kboot.controlplane.controllers.gc import GarbageCollector

from .harness import Harness, Obj, run


def rs(name: str) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": "ns"}, "spec": {"replicas": 1}}


async def add_pod(h: Harness, name: str, owner: Obj) -> None:
    await h.fake.create("pods", {"metadata": {"name": name, "namespace": "ns",
                                              "ownerReferences": [owner_reference(owner)]},
                                 "spec": {}})


def test_background_deletes_dependents_of_a_deleted_owner() -> None:
    async def body(h: Harness) -> None:
        owner = h.fake.all("replicasets", "ns")[0]
        await add_pod(h, "p1", owner)
        await h.reconcile("pods|ns/p1")
        assert len(h.fake.all("pods")) == 1  # owner alive: kept
        await h.fake.delete("replicasets", "a", namespace="ns")
        await h.reconcile("pods|ns/p1")
        assert h.fake.all("pods") == []

    run(GarbageCollector, [("replicasets", rs("a"))], body)


def test_foreground_deletes_dependents_then_removes_finalizer() -> None:
    async def body(h: Harness) -> None:
        owner = h.fake.all("replicasets", "ns")[0]
        await add_pod(h, "p1", owner)
        await h.fake.delete("replicasets", "a", namespace="ns",
                            options=DeleteOptions(propagation_policy="Foreground"))
        await h.reconcile("replicasets|ns/a")
        assert h.fake.all("pods") == []
        assert h.fake.all("replicasets")[0]["metadata"]["finalizers"] == ["foregroundDeletion"]
        await h.reconcile("replicasets|ns/a")
        assert h.fake.all("replicasets") == []

    run(GarbageCollector, [("replicasets", rs("a"))], body)


def test_orphan_strips_owner_references_and_keeps_dependents() -> None:
    async def body(h: Harness) -> None:
        owner = h.fake.all("replicasets", "ns")[0]
        await add_pod(h, "p1", owner)
        await h.fake.delete("replicasets", "a", namespace="ns",
                            options=DeleteOptions(propagation_policy="Orphan"))
        await h.reconcile("replicasets|ns/a")
        (pod,) = h.fake.all("pods")
        assert not pod["metadata"].get("ownerReferences")
        assert h.fake.all("replicasets") == []

    run(GarbageCollector, [("replicasets", rs("a"))], body)
