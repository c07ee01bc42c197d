"""CronJob: create a Job at each scheduled time, as upstream's CronJob controller (v2) does.

One pass over a CronJob (level-triggered, from its Jobs in the cache):

1. Reconcile ``status.active`` with the Jobs it owns: a finished Job leaves it (and sets
   ``lastSuccessfulTime`` when it completed), an owned running Job missing from it joins it
   (``UnexpectedJob``), a reference to a Job that is gone (checked against the API, not just
   the cache) is dropped (``MissingJob``).
2. Unless suspended: find the most recent missed schedule time after ``lastScheduleTime``
   (or creation), never earlier than ``now - startingDeadlineSeconds``; more than 100 missed
   times is reported (``TooManyMissedTimes``) and only the most recent is run, as upstream.
   ``Forbid`` skips it while a Job is active; ``Replace`` deletes the active Jobs first. The
   Job is named ``<cronjob>-<minutes since the epoch of the scheduled time>``, so a retried
   pass can never start one schedule twice.
3. Delete the oldest finished Jobs beyond ``successfulJobsHistoryLimit`` /
   ``failedJobsHistoryLimit``.
4. Requeue for the next schedule time (time comes from the context's clock).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import logging
from typing import Any

from kboot.controlplane.api.cron import CronError, Schedule, missed
from kboot.controlplane.api.cronjobs import schedule_of
from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.api import DeleteOptions
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.errors import AlreadyExists, NotFound
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.client.meta import format_time, is_deleting, parse_time
from kboot.controlplane.controllers.base import Controller, ControllerContext
from kboot.controlplane.controllers.job import finished

log = logging.getLogger(__name__)

SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
TOO_MANY_MISSED = 100
_BACKGROUND = DeleteOptions(propagation_policy="Background")


def job_name(cronjob: str, scheduled: dt.datetime) -> str:
    """Upstream's ``getJobName``: the scheduled time in minutes since the epoch."""
    return f"{cronjob}-{int(scheduled.timestamp()) // 60}"


def _ref(job: Obj) -> Obj:
    md = job["metadata"]
    return {"apiVersion": "batch/v1", "kind": "Job", "name": md["name"],
            "namespace": md["namespace"], "uid": md["uid"],
            "resourceVersion": md.get("resourceVersion", "")}


def _utc(value: str | None) -> dt.datetime | None:
    seconds = parse_time(value)
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


class CronJobController(Controller):
    name = "cronjob"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.cronjobs = self.informer("cronjobs")
        self.jobs = self.informer("jobs")
        self.cronjobs.add_handlers(Handlers(on_add=self.enqueue,
                                            on_update=lambda _o, n: self.enqueue(n)))
        self.jobs.add_handlers(Handlers(
            on_add=lambda j: self.enqueue_controller(j, "CronJob"),
            on_update=lambda _o, j: self.enqueue_controller(j, "CronJob"),
            on_delete=lambda j: self.enqueue_controller(j, "CronJob")))

    def _owned(self, cj: Obj) -> list[Obj]:
        uid = cj["metadata"]["uid"]
        return [j for j in self.jobs.by_index("owner", uid)
                if any(r.get("uid") == uid and r.get("controller")
                       for r in j["metadata"].get("ownerReferences") or [])]

    async def reconcile(self, key: str) -> Result:
        cj = self.cronjobs.get(key)
        if cj is None:
            return DONE
        status = copy.deepcopy(cj.get("status") or {})
        jobs = self._owned(cj)
        await self._sync_active(cj, status, jobs)
        if is_deleting(cj):
            await self._write_status(cj, status)
            return DONE
        result = await self._schedule(cj, status)
        await self._cleanup(cj, jobs)
        await self._write_status(cj, status)
        return result

    # ------------------------------------------------------------------ active jobs

    async def _sync_active(self, cj: Obj, status: dict[str, Any], jobs: list[Obj]) -> None:
        active: list[Obj] = list(status.get("active") or [])
        active_uids = {r.get("uid") for r in active}
        for job in jobs:
            uid, done = job["metadata"]["uid"], finished(job)
            if uid not in active_uids and not done:
                active.append(_ref(job))
                self.ctx.recorder.event(cj, "Warning", "UnexpectedJob", "Saw a job that the "
                                        f"controller did not create or forgot: {job_name_of(job)}")
            elif uid in active_uids and done:
                active = [r for r in active if r.get("uid") != uid]
                self.ctx.recorder.event(cj, "Normal", "SawCompletedJob",
                                        f"Saw completed job: {job_name_of(job)}, "
                                        f"condition: {done}")
            if done == "Complete":
                completed = _utc((job.get("status") or {}).get("completionTime"))
                last = _utc(status.get("lastSuccessfulTime"))
                if completed and (last is None or completed > last):
                    status["lastSuccessfulTime"] = format_time(completed.timestamp())
        seen = {j["metadata"]["uid"] for j in jobs}
        for ref in [r for r in active if r.get("uid") not in seen]:
            if not await self._exists(ref):
                active.remove(ref)
                self.ctx.recorder.event(cj, "Normal", "MissingJob",
                                        f"Active job went missing: {ref.get('name')}")
        status["active"] = active

    async def _exists(self, ref: Obj) -> bool:
        """The cache may not have seen a Job created moments ago: ask the API."""
        try:
            job = await self.client.get("jobs", str(ref.get("name")),
                                        namespace=ref.get("namespace"))
        except NotFound:
            return False
        return bool(job["metadata"].get("uid") == ref.get("uid"))

    # ------------------------------------------------------------------ scheduling

    async def _schedule(self, cj: Obj, status: dict[str, Any]) -> Result:
        spec = cj.get("spec") or {}
        try:
            schedule = schedule_of(cj)
        except CronError as exc:
            reason = "UnknownTimeZone" if "time zone" in str(exc) else "UnparseableSchedule"
            what = (f"invalid timeZone: {spec.get('timeZone')!r}" if reason == "UnknownTimeZone"
                    else f"unparseable schedule: {spec.get('schedule')!r}")
            self.ctx.recorder.event(cj, "Warning", reason, f"{what} : {exc}")
            return DONE
        if spec.get("suspend"):
            return DONE
        now = self.clock.now()
        earliest = _utc(status.get("lastScheduleTime")) or \
            _utc(cj["metadata"].get("creationTimestamp")) or now
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None:
            earliest = max(earliest, now - dt.timedelta(seconds=int(deadline)))
        scheduled, count = missed(schedule, earliest, now)
        if count > TOO_MANY_MISSED:
            self.ctx.recorder.event(cj, "Warning", "TooManyMissedTimes",
                                    f"too many missed start times: {count}. Set or decrease "
                                    ".spec.startingDeadlineSeconds or check clock skew")
        if scheduled is not None:
            await self._run(cj, status, scheduled, schedule)
        return self._requeue(schedule, now)

    async def _run(self, cj: Obj, status: dict[str, Any], scheduled: dt.datetime,
                   schedule: Schedule) -> None:
        spec, md = cj.get("spec") or {}, cj["metadata"]
        name = job_name(md["name"], scheduled)
        active: list[Obj] = status["active"]
        if any(r.get("name") == name for r in active) or \
                _utc(status.get("lastScheduleTime")) == scheduled:
            return
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and active:
            self.ctx.recorder.event(cj, "Normal", "JobAlreadyActive", "Not starting job because "
                                    "prior execution is running and concurrency policy is Forbid")
            return
        if policy == "Replace":
            for ref in list(active):
                with contextlib.suppress(NotFound):
                    await self.client.delete("jobs", str(ref["name"]), namespace=md["namespace"],
                                             options=_BACKGROUND)
                active.remove(ref)
                self.ctx.recorder.event(cj, "Normal", "SuccessfulDelete",
                                        f"Deleted job {ref['name']}")
        try:
            job = await self.client.create("jobs", self._job(cj, name, scheduled, schedule),
                                           namespace=md["namespace"])
        except AlreadyExists:
            log.info("job %s/%s already exists", md["namespace"], name)
            status["lastScheduleTime"] = format_time(scheduled.timestamp())
            return
        self.ctx.recorder.event(cj, "Normal", "SuccessfulCreate", f"Created job {name}")
        active.append(_ref(job))
        status["lastScheduleTime"] = format_time(scheduled.timestamp())

    def _job(self, cj: Obj, name: str, scheduled: dt.datetime, schedule: Schedule) -> Obj:
        md = cj["metadata"]
        template = copy.deepcopy((cj.get("spec") or {}).get("jobTemplate") or {})
        tmd = template.get("metadata") or {}
        annotations = dict(tmd.get("annotations") or {})
        annotations[SCHEDULED_ANNOTATION] = scheduled.astimezone(schedule.zone).isoformat() \
            .replace("+00:00", "Z")
        return {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "namespace": md["namespace"],
                             "labels": dict(tmd.get("labels") or {}),
                             "annotations": annotations,
                             "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                                                  "name": md["name"], "uid": md["uid"],
                                                  "controller": True,
                                                  "blockOwnerDeletion": True}]},
                "spec": template.get("spec") or {}}

    def _requeue(self, schedule: Schedule, now: dt.datetime) -> Result:
        nxt = schedule.next(now)
        if nxt is None:
            return DONE
        return Result(requeue_after=max(0.1, (nxt - now).total_seconds() + 0.1))

    # ------------------------------------------------------------------ history

    async def _cleanup(self, cj: Obj, jobs: list[Obj]) -> None:
        spec = cj.get("spec") or {}
        for verdict, field in (("Complete", "successfulJobsHistoryLimit"),
                               ("Failed", "failedJobsHistoryLimit")):
            limit = spec.get(field)
            if limit is None:
                continue
            done = sorted((j for j in jobs if finished(j) == verdict and not is_deleting(j)),
                          key=_start_order)
            for job in done[:max(0, len(done) - int(limit))]:
                with contextlib.suppress(NotFound):
                    await self.client.delete("jobs", job["metadata"]["name"],
                                             namespace=job["metadata"]["namespace"],
                                             options=_BACKGROUND)
                self.ctx.recorder.event(cj, "Normal", "SuccessfulDelete",
                                        f"Deleted job {job['metadata']['name']}")

    async def _write_status(self, cj: Obj, status: dict[str, Any]) -> None:
        old = cj.get("status") or {}
        if not status.get("active"):
            status.pop("active", None)
        if status == old:
            return
        patch: dict[str, Any] = {k: status.get(k) for k in set(status) | set(old)}
        md = cj["metadata"]
        await self.client.patch_status("cronjobs", md["name"], namespace=md["namespace"],
                                       patch={"status": patch})


def job_name_of(job: Obj) -> str:
    return str(job["metadata"]["name"])


def _start_order(job: Obj) -> tuple[bool, float, str]:
    """Upstream's ``byJobStartTime``: oldest first, Jobs without a start time last."""
    start = parse_time((job.get("status") or {}).get("startTime"))
    return (start is None, start or 0.0, job["metadata"]["name"])
