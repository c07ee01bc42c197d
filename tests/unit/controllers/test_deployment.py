"""Deployment reconciler: new ReplicaSet per template, revisions, rolling steps, rollback."""

from __future__ import annotations

import copy

from kboot.controlplane.controllers.deployment import REVISION, DeploymentController
from kboot.controlplane.controllers.pods import TEMPLATE_HASH

from .harness import Harness, Obj, run, template


def deployment(replicas: int = 3, image: str = "nginx:1", **strategy: object) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": template(image=image),
                     "strategy": strategy or {"type": "RollingUpdate"}}}


async def set_rs_ready(h: Harness) -> None:
    for rs in h.fake.all("replicasets", "ns"):
        n = rs["spec"]["replicas"]
        rs["status"] = {"replicas": n, "readyReplicas": n, "availableReplicas": n}
        await h.fake.replace_status("replicasets", rs)


def by_revision(h: Harness) -> dict[str, int]:
    return {rs["metadata"]["annotations"][REVISION]: rs["spec"]["replicas"]
            for rs in h.fake.all("replicasets", "ns")}


def test_first_reconcile_creates_full_size_replicaset_with_hash_and_revision() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("ns/web")
        (rs,) = h.fake.all("replicasets", "ns")
        hash_ = rs["spec"]["template"]["metadata"]["labels"][TEMPLATE_HASH]
        assert rs["metadata"]["name"] == f"web-{hash_}"
        assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", TEMPLATE_HASH: hash_}
        assert rs["spec"]["replicas"] == 3
        assert rs["metadata"]["annotations"][REVISION] == "1"
        d = h.fake.all("deployments", "ns")[0]
        assert d["metadata"]["annotations"][REVISION] == "1"
        await set_rs_ready(h)
        await h.reconcile("ns/web")
        status = h.fake.all("deployments", "ns")[0]["status"]
        assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == \
            (3, 3, 3)
        assert {c["type"]: c["reason"] for c in status["conditions"]} == {
            "Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}

    run(DeploymentController, [("deployments", deployment())], body)


def test_rolling_update_respects_surge_and_unavailable_then_rollback_reuses_old_set() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("ns/web")
        await set_rs_ready(h)
        d = h.fake.all("deployments", "ns")[0]
        old_template = copy.deepcopy(d["spec"]["template"])
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
        await h.fake.replace("deployments", d)
        await h.reconcile("ns/web")
        # maxSurge 1 (25% of 3 rounded up), maxUnavailable 0 (rounded down): +1 new, old kept
        assert by_revision(h) == {"1": 3, "2": 1}
        await set_rs_ready(h)
        await h.reconcile("ns/web")
        assert by_revision(h) == {"1": 2, "2": 2}
        for _ in range(4):
            await set_rs_ready(h)
            await h.reconcile("ns/web")
        assert by_revision(h) == {"1": 0, "2": 3}
        # kubectl rollout undo writes the old template back
        d = h.fake.all("deployments", "ns")[0]
        d["spec"]["template"] = old_template
        await h.fake.replace("deployments", d)
        await h.reconcile("ns/web")
        assert len(h.fake.all("replicasets", "ns")) == 2  # reused, not a third set
        assert by_revision(h) == {"3": 1, "2": 3}

    run(DeploymentController, [("deployments", deployment())], body)


def test_recreate_scales_old_to_zero_before_new() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("ns/web")
        await set_rs_ready(h)
        d = h.fake.all("deployments", "ns")[0]
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
        await h.fake.replace("deployments", d)
        await h.reconcile("ns/web")
        assert by_revision(h) == {"1": 0, "2": 0}  # old pods still reported: wait
        await set_rs_ready(h)  # old status now 0
        await h.reconcile("ns/web")
        assert by_revision(h) == {"1": 0, "2": 2}

    run(DeploymentController, [("deployments", deployment(2, type="Recreate"))], body)


def test_stalled_rollout_reports_progress_deadline_exceeded() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("ns/web")  # RS created, never becomes available
        cond = {c["type"]: c for c in h.fake.all("deployments", "ns")[0]["status"]["conditions"]}
        assert cond["Progressing"]["reason"] == "ReplicaSetUpdated"
        await h.clock.advance(599)
        await h.reconcile("ns/web")  # nothing moved, within the deadline
        cond = {c["type"]: c for c in h.fake.all("deployments", "ns")[0]["status"]["conditions"]}
        assert cond["Progressing"]["status"] == "True"
        await h.clock.advance(2)
        await h.reconcile("ns/web")  # nothing moved for longer than the deadline
        cond = {c["type"]: c for c in h.fake.all("deployments", "ns")[0]["status"]["conditions"]}
        assert (cond["Progressing"]["status"], cond["Progressing"]["reason"]) == (
            "False", "ProgressDeadlineExceeded")

    d = deployment()
    d["spec"]["progressDeadlineSeconds"] = 600
    run(DeploymentController, [("deployments", d)], body)


def test_paused_deployment_does_not_roll() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("ns/web")
        d = h.fake.all("deployments", "ns")[0]
        d["spec"]["paused"] = True
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
        await h.fake.replace("deployments", d)
        await h.reconcile("ns/web")
        assert by_revision(h) == {"1": 3}  # no new ReplicaSet while paused
        d = h.fake.all("deployments", "ns")[0]
        d["spec"]["paused"] = False
        await h.fake.replace("deployments", d)
        await h.reconcile("ns/web")
        assert set(by_revision(h)) == {"1", "2"}

    run(DeploymentController, [("deployments", deployment())], body)
