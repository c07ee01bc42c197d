"""ReplicaSet reconciler, one key at a time over seeded objects."""

from __future__ import annotations

from kboot.controlplane.api.owners import owner_reference
from kboot.controlplane.controllers.replicaset import ReplicaSetController

from .harness import Harness, Obj, ready_pod, run, template


def rs(replicas: int) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": template()}}


def test_creates_missing_pods_with_owner_and_reports_status() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("ns/web")
        pods = h.fake.all("pods", "ns")
        assert len(pods) == 3
        owner = h.fake.all("replicasets", "ns")[0]
        assert all(p["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
                   for p in pods)
        assert all(p["metadata"]["name"].startswith("web-") for p in pods)
        # a second pass before anything changed must not create more
        await h.reconcile("ns/web")
        assert len(h.fake.all("pods", "ns")) == 3
        assert h.fake.all("replicasets", "ns")[0]["status"]["replicas"] == 3

    run(ReplicaSetController, [("replicasets", rs(3))], body)


def test_scales_down_unready_pods_first() -> None:
    async def body(h: Harness) -> None:
        owner = h.fake.all("replicasets", "ns")[0]
        for i in range(3):
            pod: Obj = {"metadata": {"name": f"p{i}", "namespace": "ns",
                                     "labels": {"app": "web"},
                                     "ownerReferences": [owner_reference(owner)]}, "spec": {}}
            await h.fake.create("pods", ready_pod(pod) if i != 1 else pod)
        h.fake.graceful_pod_deletion = False
        await h.reconcile("ns/web")
        names = sorted(p["metadata"]["name"] for p in h.fake.all("pods", "ns"))
        assert names == ["p0", "p2"]
        await h.reconcile("ns/web")
        status = h.fake.all("replicasets", "ns")[0]["status"]
        assert (status["replicas"], status["readyReplicas"]) == (2, 2)

    run(ReplicaSetController, [("replicasets", rs(2))], body)
