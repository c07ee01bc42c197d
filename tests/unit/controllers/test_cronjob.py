"""The CronJob controller over the fake apiserver, time driven by the FakeClock."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kboot.controlplane.client.meta import format_time
from kboot.controlplane.controllers.cronjob import CronJobController, job_name
from tests.unit.controllers.harness import Harness, run

Obj = dict[str, Any]
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # the FakeClock's epoch: a whole minute


def cronjob(name: str = "tick", schedule: str = "* * * * *", **spec: Any) -> Obj:
    body: Obj = {"schedule": schedule, "concurrencyPolicy": "Allow", "suspend": False,
                 "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                 "jobTemplate": {"metadata": {"labels": {"app": name}},
                                 "spec": {"template": {"spec": {
                                     "restartPolicy": "Never",
                                     "containers": [{"name": "c", "image": "busybox"}]}}}}}
    body.update(spec)
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": name, "namespace": "default"}, "spec": body}


def jobs(h: Harness) -> list[Obj]:
    return h.fake.all("jobs", "default")


def reasons(h: Harness) -> list[str]:
    return [e["reason"] for e in h.fake.all("events")]


def status(h: Harness, name: str = "tick") -> Obj:
    return dict(h.fake.all("cronjobs")[[c["metadata"]["name"] for c in
                                        h.fake.all("cronjobs")].index(name)].get("status") or {})


async def finish(h: Harness, job: Obj, verdict: str = "Complete") -> None:
    ts = format_time(h.clock.time())
    await h.fake.patch_status("jobs", job["metadata"]["name"], namespace="default", patch={
        "status": {"startTime": ts, "completionTime": ts if verdict == "Complete" else None,
                   "conditions": [{"type": verdict, "status": "True"}]}})


def test_every_minute_creates_a_job_named_after_the_scheduled_minute() -> None:
    async def body(h: Harness) -> None:
        result = await h.reconcile("default/tick")
        assert jobs(h) == []
        assert result.requeue_after is not None and 59 < result.requeue_after <= 61
        await h.clock.advance(61)
        await h.reconcile("default/tick")
        [job] = jobs(h)
        minute = T0 + dt.timedelta(minutes=1)
        assert job["metadata"]["name"] == job_name("tick", minute)
        assert job["metadata"]["name"] == f"tick-{int(minute.timestamp()) // 60}"
        ref = job["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["controller"]) == ("CronJob", "tick", True)
        assert job["metadata"]["labels"] == {"app": "tick"}
        assert job["metadata"]["annotations"][
            "batch.kubernetes.io/cronjob-scheduled-timestamp"] == "2026-01-01T00:01:00Z"
        st = status(h)
        assert st["lastScheduleTime"] == "2026-01-01T00:01:00Z"
        assert [a["name"] for a in st["active"]] == [job["metadata"]["name"]]
        assert "SuccessfulCreate" in reasons(h)
        await h.reconcile("default/tick")  # the same minute again: nothing new
        assert len(jobs(h)) == 1

    run(CronJobController, [("cronjobs", cronjob())], body)


def test_forbid_skips_while_active_then_runs_the_latest_missed_time() -> None:
    async def body(h: Harness) -> None:
        await h.clock.advance(61)
        await h.reconcile("default/tick")
        [first] = jobs(h)
        await h.clock.advance(60)
        await h.reconcile("default/tick")
        assert len(jobs(h)) == 1
        assert "JobAlreadyActive" in reasons(h)
        await finish(h, first)
        await h.reconcile("default/tick")
        names = sorted(j["metadata"]["name"] for j in jobs(h))
        assert names == sorted([first["metadata"]["name"],
                                job_name("tick", T0 + dt.timedelta(minutes=2))])
        st = status(h)
        assert [a["name"] for a in st["active"]] == [job_name("tick", T0 + dt.timedelta(minutes=2))]
        assert st["lastSuccessfulTime"]
        assert "SawCompletedJob" in reasons(h)

    run(CronJobController, [("cronjobs", cronjob(concurrencyPolicy="Forbid"))], body)


def test_replace_deletes_the_running_job() -> None:
    async def body(h: Harness) -> None:
        await h.clock.advance(61)
        await h.reconcile("default/tick")
        await h.clock.advance(60)
        await h.reconcile("default/tick")
        assert [j["metadata"]["name"] for j in jobs(h)] == [
            job_name("tick", T0 + dt.timedelta(minutes=2))]
        assert len(status(h)["active"]) == 1
        assert "SuccessfulDelete" in reasons(h)

    run(CronJobController, [("cronjobs", cronjob(concurrencyPolicy="Replace"))], body)


def test_allow_runs_concurrently() -> None:
    async def body(h: Harness) -> None:
        for _ in range(3):
            await h.clock.advance(60)
            await h.reconcile("default/tick")
        assert len(jobs(h)) == 3
        assert len(status(h)["active"]) == 3

    run(CronJobController, [("cronjobs", cronjob())], body)


def test_history_limits_delete_the_oldest_finished_jobs() -> None:
    async def body(h: Harness) -> None:
        verdicts = {}
        for i in range(6):
            await h.clock.advance(60)
            await h.reconcile("default/tick")
            name = job_name("tick", T0 + dt.timedelta(minutes=i + 1))
            verdicts[name] = "Failed" if i % 2 else "Complete"
            [job] = [j for j in jobs(h) if j["metadata"]["name"] == name]
            await finish(h, job, verdicts[name])
        await h.reconcile("default/tick")
        kept = sorted(j["metadata"]["name"] for j in jobs(h))
        ordered = list(verdicts)
        assert kept == sorted([ordered[2], ordered[4], ordered[5]])  # 2 complete, 1 failed
        assert reasons(h).count("SuccessfulDelete") >= 3

    run(CronJobController, [("cronjobs", cronjob(successfulJobsHistoryLimit=2,
                                                 failedJobsHistoryLimit=1))], body)


def test_suspended_cronjob_creates_nothing() -> None:
    async def body(h: Harness) -> None:
        await h.clock.advance(600)
        assert (await h.reconcile("default/tick")).requeue_after is None
        assert jobs(h) == []

    run(CronJobController, [("cronjobs", cronjob(suspend=True))], body)


def test_starting_deadline_skips_a_time_missed_by_too_much() -> None:
    async def body(h: Harness) -> None:
        await h.clock.advance(60 * 5 + 45)  # 45s past the last minute, deadline 30s
        await h.reconcile("default/tick")
        assert jobs(h) == []
        assert "TooManyMissedTimes" not in reasons(h)

    run(CronJobController, [("cronjobs", cronjob(startingDeadlineSeconds=30))], body)


def test_too_many_missed_start_times_runs_only_the_latest() -> None:
    async def body(h: Harness) -> None:
        await h.clock.advance(3 * 3600 + 10)
        await h.reconcile("default/tick")
        [job] = jobs(h)
        assert job["metadata"]["name"] == job_name("tick", T0 + dt.timedelta(hours=3))
        assert "TooManyMissedTimes" in reasons(h)
        [event] = [e for e in h.fake.all("events") if e["reason"] == "TooManyMissedTimes"]
        assert event["message"].startswith("too many missed start times: 180.")

    run(CronJobController, [("cronjobs", cronjob())], body)


def test_time_zone_moves_the_schedule() -> None:
    async def body(h: Harness) -> None:
        result = await h.reconcile("default/tick")
        # 09:00 in Tokyo is 00:00 UTC: the next is a day after the epoch (a Tokyo midnight)
        assert result.requeue_after is not None and abs(result.requeue_after - 86400) < 1
        await h.clock.advance(86400 + 1)
        await h.reconcile("default/tick")
        [job] = jobs(h)
        assert job["metadata"]["annotations"][
            "batch.kubernetes.io/cronjob-scheduled-timestamp"] == "2026-01-02T09:00:00+09:00"

    run(CronJobController, [("cronjobs", cronjob(schedule="0 9 * * *",
                                                 timeZone="Asia/Tokyo"))], body)


def test_a_deleted_active_job_leaves_the_active_list() -> None:
    async def body(h: Harness) -> None:
        await h.clock.advance(61)
        await h.reconcile("default/tick")
        [job] = jobs(h)
        await h.fake.delete("jobs", job["metadata"]["name"], namespace="default")
        await h.reconcile("default/tick")
        assert "active" not in status(h)
        assert "MissingJob" in reasons(h)

    run(CronJobController, [("cronjobs", cronjob())], body)
