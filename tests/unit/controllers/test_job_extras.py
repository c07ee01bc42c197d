"""Job features charts use: Indexed mode, suspend, podFailurePolicy, activeDeadlineSeconds and
ttlSecondsAfterFinished (time from the FakeClock)."""

from __future__ import annotations

from typing import Any

from kboot.controlplane.controllers.job import JobController
from kboot.controlplane.controllers.jobparts import INDEX_KEY, ranges
from tests.unit.controllers.harness import Harness, run, template
from tests.unit.controllers.test_workloads import finish_pods, job

Obj = dict[str, Any]


def pods(h: Harness) -> list[Obj]:
    return h.fake.all("pods", "ns")


def status(h: Harness) -> Obj:
    return dict(h.fake.all("jobs", "ns")[0].get("status") or {})


def conditions(h: Harness) -> dict[str, Obj]:
    return {c["type"]: c for c in status(h).get("conditions") or []}


def with_spec(**spec: Any) -> Obj:
    obj = job(int(spec.pop("completions", 1)), int(spec.pop("parallelism", 1)))
    obj["spec"].update(spec)
    return obj


def test_ranges() -> None:
    assert ranges({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert ranges({3}) == "3"
    assert ranges(set()) == ""


def test_indexed_job_runs_each_index_once() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("ns/pi")
        first = pods(h)
        assert sorted(p["metadata"]["annotations"][INDEX_KEY] for p in first) == ["0", "1"]
        pod0 = next(p for p in first if p["metadata"]["labels"][INDEX_KEY] == "0")
        assert pod0["metadata"]["name"].startswith("pi-0-")
        assert pod0["spec"]["hostname"] == "pi-0"
        env = pod0["spec"]["containers"][0]["env"]
        assert env[-1] == {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
            "fieldPath": f"metadata.annotations['{INDEX_KEY}']"}}}
        await finish_pods(h, "Succeeded")
        await h.reconcile("ns/pi")
        assert status(h)["completedIndexes"] == "0-1"
        assert sorted(p["metadata"]["labels"][INDEX_KEY] for p in pods(h)) == ["0", "1", "2"]
        await finish_pods(h, "Succeeded")
        await h.reconcile("ns/pi")
        assert status(h)["completedIndexes"] == "0-2"
        assert status(h)["succeeded"] == 3
        assert "Complete" in conditions(h)

    run(JobController, [("jobs", with_spec(completions=3, parallelism=2,
                                          completionMode="Indexed"))], body)


def test_suspend_deletes_pods_and_resume_restarts_the_clock() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("ns/pi")
        assert pods(h) == []
        assert conditions(h)["Suspended"]["status"] == "True"
        assert "startTime" not in status(h)
        await h.clock.advance(100)  # no deadline while suspended
        obj = h.fake.all("jobs", "ns")[0]
        obj["spec"]["suspend"] = False
        await h.fake.replace("jobs", obj)
        await h.reconcile("ns/pi")
        assert len(pods(h)) == 1
        assert conditions(h)["Suspended"]["status"] == "False"
        assert conditions(h)["Suspended"]["reason"] == "JobResumed"
        assert "Failed" not in conditions(h)
        obj = h.fake.all("jobs", "ns")[0]
        obj["spec"]["suspend"] = True
        await h.fake.replace("jobs", obj)
        await h.reconcile("ns/pi")
        assert [p for p in pods(h) if not p["metadata"].get("deletionTimestamp")] == []

    run(JobController, [("jobs", with_spec(suspend=True, activeDeadlineSeconds=30))], body)


def test_active_deadline_fails_the_job_on_the_clock() -> None:
    async def body(h: Harness) -> None:
        result = await h.reconcile("ns/pi")
        assert result.requeue_after is not None and 29 < result.requeue_after <= 30
        await h.clock.advance(31)
        await h.reconcile("ns/pi")
        assert conditions(h)["Failed"]["reason"] == "DeadlineExceeded"

    run(JobController, [("jobs", with_spec(activeDeadlineSeconds=30))], body)


def test_ttl_after_finished_deletes_the_job() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("ns/pi")
        await finish_pods(h, "Succeeded")
        await h.reconcile("ns/pi")
        assert "Complete" in conditions(h)
        result = await h.reconcile("ns/pi")
        assert result.requeue_after is not None and 59 < result.requeue_after <= 60
        await h.clock.advance(61)
        await h.reconcile("ns/pi")
        assert h.fake.all("jobs", "ns") == []

    run(JobController, [("jobs", with_spec(ttlSecondsAfterFinished=60))], body)



def test_pod_failure_policy_fail_job_and_ignore() -> None:
    policy = {"rules": [
        {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [3]}},
        {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In",
                                              "values": [42]}}]}

    async def body(h: Harness) -> None:
        await h.reconcile("ns/pi")
        for pod in pods(h):
            pod["status"] = {"phase": "Failed", "containerStatuses": [
                {"name": "c", "state": {"terminated": {"exitCode": 3}}}]}
            await h.fake.replace_status("pods", pod)
        await h.reconcile("ns/pi")
        assert status(h)["failed"] == 0  # ignored: not counted against backoffLimit
        assert "Failed" not in conditions(h)
        fresh = [p for p in pods(h) if "status" not in p or not p["status"].get("phase")]
        assert fresh
        for pod in fresh:
            pod["status"] = {"phase": "Failed", "containerStatuses": [
                {"name": "c", "state": {"terminated": {"exitCode": 42}}}]}
            await h.fake.replace_status("pods", pod)
        await h.reconcile("ns/pi")
        failed = conditions(h)["Failed"]
        assert failed["reason"] == "PodFailurePolicy"
        assert "failed with exit code 42 matching FailJob rule at index 1" in failed["message"]

    spec = with_spec(podFailurePolicy=policy, backoffLimit=0)
    spec["spec"]["template"] = {**template(), "spec": {**template()["spec"],
                                                       "restartPolicy": "Never"}}
    run(JobController, [("jobs", spec)], body)
