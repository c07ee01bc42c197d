"""StatefulSet, DaemonSet and Job reconcilers, one key at a time."""

from __future__ import annotations

from kboot.controlplane.controllers.daemonset import DaemonSetController, should_run
from kboot.controlplane.controllers.job import JobController
from kboot.controlplane.controllers.statefulset import StatefulSetController

from .harness import Harness, Obj, ready_pod, run, template


def sts(replicas: int, policy: str = "OrderedReady") -> Obj:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"replicas": replicas, "serviceName": "web", "podManagementPolicy": policy,
                     "selector": {"matchLabels": {"app": "web"}}, "template": template(),
                     "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                               "spec": {"accessModes": ["ReadWriteOnce"]}}]}}


async def make_ready(h: Harness) -> None:
    for pod in h.fake.all("pods", "ns"):
        await h.fake.replace_status("pods", ready_pod(pod))


def names(h: Harness, ref: str = "pods") -> list[str]:
    return sorted(o["metadata"]["name"] for o in h.fake.all(ref, "ns"))


def test_statefulset_creates_in_order_with_claims_and_deletes_in_reverse() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("ns/web")
        assert names(h) == ["web-0"]
        assert names(h, "persistentvolumeclaims") == ["data-web-0"]
        await h.reconcile("ns/web")
        assert names(h) == ["web-0"]  # web-0 not ready yet: wait
        await make_ready(h)
        await h.reconcile("ns/web")
        assert names(h) == ["web-0", "web-1"]
        pod = h.fake.all("pods", "ns")[1]
        assert pod["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {
            "claimName": "data-web-1"}}]
        assert pod["spec"]["hostname"] == "web-1" and pod["spec"]["subdomain"] == "web"
        await make_ready(h)
        s = h.fake.all("statefulsets", "ns")[0]
        s["spec"]["replicas"] = 0
        await h.fake.replace("statefulsets", s)
        h.fake.graceful_pod_deletion = False
        await h.reconcile("ns/web")
        assert names(h) == ["web-0"]  # highest ordinal first
        await h.reconcile("ns/web")
        assert names(h) == []
        assert names(h, "persistentvolumeclaims") == ["data-web-0", "data-web-1"]  # retained
        status = h.fake.all("statefulsets", "ns")[0]["status"]
        assert status["updateRevision"].startswith("web-")
        assert names(h, "controllerrevisions") == [status["updateRevision"]]

    run(StatefulSetController, [("statefulsets", sts(2))], body)


def test_parallel_statefulset_creates_all_at_once() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("ns/web")
        assert names(h) == ["web-0", "web-1", "web-2"]

    run(StatefulSetController, [("statefulsets", sts(3, "Parallel"))], body)


def node(name: str, **extra: object) -> Obj:
    return {"metadata": {"name": name, "labels": {"disk": "ssd"} if extra.get("ssd") else {}},
            "spec": {"taints": extra.get("taints", [])}}


DS: Obj = {"apiVersion": "apps/v1", "kind": "DaemonSet",
           "metadata": {"name": "agent", "namespace": "ns"},
           "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template()}}


def test_daemonset_one_pod_per_eligible_node_including_late_nodes() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("ns/agent")
        placed = sorted(p["spec"]["nodeName"] for p in h.fake.all("pods", "ns"))
        assert placed == ["a", "b"]  # c has an untolerated NoSchedule taint
        await h.fake.create("nodes", node("late"))
        await h.reconcile("ns/agent")
        placed = sorted(p["spec"]["nodeName"] for p in h.fake.all("pods", "ns"))
        assert placed == ["a", "b", "late"]
        await h.reconcile("ns/agent")  # the pod event triggers this pass in real life
        status = h.fake.all("daemonsets", "ns")[0]["status"]
        assert (status["desiredNumberScheduled"], status["currentNumberScheduled"]) == (3, 3)

    tainted = node("c", taints=[{"key": "dedicated", "effect": "NoSchedule"}])
    run(DaemonSetController, [("daemonsets", DS), ("nodes", node("a")), ("nodes", node("b")),
                              ("nodes", tainted)], body)


def test_daemonset_eligibility_table() -> None:
    unreachable = node("x", taints=[{"key": "node.kubernetes.io/unreachable",
                                     "effect": "NoExecute"}])
    assert should_run(DS, unreachable)  # automatic toleration
    picky = {**DS, "spec": {**DS["spec"], "template": {
        **template(), "spec": {**template()["spec"], "nodeSelector": {"disk": "ssd"}}}}}
    assert should_run(picky, node("s", ssd=True))
    assert not should_run(picky, node("h"))


def job(completions: int, parallelism: int, backoff: int = 6) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "namespace": "ns"},
            "spec": {"completions": completions, "parallelism": parallelism,
                     "backoffLimit": backoff,
                     "template": {**template(), "spec": {**template()["spec"],
                                                         "restartPolicy": "Never"}}}}


async def finish_pods(h: Harness, phase: str) -> None:
    for pod in h.fake.all("pods", "ns"):
        if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            pod["status"] = {"phase": phase}
            await h.fake.replace_status("pods", pod)


def test_job_runs_parallelism_at_a_time_until_completions() -> None:
    async def body(h: Harness) -> None:
        for _ in range(3):
            await h.reconcile("ns/pi")
            active = [p for p in h.fake.all("pods", "ns") if "status" not in p]
            assert len(active) <= 2
            await finish_pods(h, "Succeeded")
        await h.reconcile("ns/pi")
        await h.reconcile("ns/pi")
        status = h.fake.all("jobs", "ns")[0]["status"]
        assert status["succeeded"] == 5
        assert [c["type"] for c in status["conditions"]] == ["Complete"]
        assert status["completionTime"]

    run(JobController, [("jobs", job(5, 2))], body)


def test_failing_job_stops_at_backoff_limit() -> None:
    async def body(h: Harness) -> None:
        for _ in range(6):
            await h.reconcile("ns/pi")
            await finish_pods(h, "Failed")
        status = h.fake.all("jobs", "ns")[0]["status"]
        assert status["failed"] == 3  # backoffLimit 2: the third failure ends it
        cond = status["conditions"][0]
        assert (cond["type"], cond["reason"]) == ("Failed", "BackoffLimitExceeded")
        assert len(h.fake.all("pods", "ns")) == 3  # no more pods after failing

    run(JobController, [("jobs", job(1, 1, backoff=2))], body)


def test_statefulset_rolling_update_goes_from_the_top_ordinal_down() -> None:
    async def body(h: Harness) -> None:
        h.fake.graceful_pod_deletion = False
        for _ in range(3):
            await h.reconcile("ns/web")
            await make_ready(h)
        assert names(h) == ["web-0", "web-1", "web-2"]
        s = h.fake.all("statefulsets", "ns")[0]
        s["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
        await h.fake.replace("statefulsets", s)
        await h.reconcile("ns/web")
        assert names(h) == ["web-0", "web-1"]  # web-2 replaced first
        await h.reconcile("ns/web")
        await make_ready(h)
        images = {p["metadata"]["name"]: p["spec"]["containers"][0]["image"]
                  for p in h.fake.all("pods", "ns")}
        assert images == {"web-0": "nginx:1", "web-1": "nginx:1", "web-2": "nginx:2"}
        for _ in range(4):
            await h.reconcile("ns/web")
            await make_ready(h)
        images = {p["metadata"]["name"]: p["spec"]["containers"][0]["image"]
                  for p in h.fake.all("pods", "ns")}
        assert set(images.values()) == {"nginx:2"} and len(images) == 3
        await h.reconcile("ns/web")
        status = h.fake.all("statefulsets", "ns")[0]["status"]
        assert status["currentRevision"] == status["updateRevision"]
        assert status["updatedReplicas"] == 3
        revisions = h.fake.all("controllerrevisions", "ns")
        assert sorted(r["revision"] for r in revisions) == [1, 2]

    run(StatefulSetController, [("statefulsets", sts(3))], body)
