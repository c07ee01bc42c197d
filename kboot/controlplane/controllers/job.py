"""Job: run pods until ``completions`` succeed, at most ``parallelism`` at a time.

Failed pods count against ``backoffLimit`` (default 6): one more failure than that and the Job
fails (``BackoffLimitExceeded``); ``activeDeadlineSeconds`` past ``startTime`` fails it with
``DeadlineExceeded``. Either way its active pods are deleted. A finished Job gets the
``Complete`` or ``Failed`` condition and ``completionTime``; with ``ttlSecondsAfterFinished``
it is deleted (pods cascade through the garbage collector) that long after finishing.
Counts come from the Job's pods that still exist (no tracking finalizers).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from kboot.controlplane.api.owners import controller_of, controller_uid
from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.api import DeleteOptions
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.errors import NotFound
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.client.meta import is_deleting, now, parse_time
from kboot.controlplane.controllers import pods as podlib
from kboot.controlplane.controllers.base import Controller, ControllerContext
from kboot.controlplane.controllers.expectations import Expectations

log = logging.getLogger(__name__)


def finished(job: Obj) -> str | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"])
    return None


class JobController(Controller):
    name = "job"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.jobs = self.informer("jobs")
        self.pods = self.informer("pods")
        self.expectations = Expectations(ctx.clock)
        self.jobs.add_handlers(Handlers(on_add=self.enqueue,
                                        on_update=lambda _o, n: self.enqueue(n)))
        self.pods.add_handlers(Handlers(on_add=self._pod_added,
                                        on_update=lambda _o, p: self.enqueue_controller(p, "Job"),
                                        on_delete=lambda p: self.enqueue_controller(p, "Job")))

    def _pod_added(self, pod: Obj) -> None:
        ref = controller_of(pod)
        if ref and ref.get("kind") == "Job":
            key = f"{pod['metadata']['namespace']}/{ref['name']}"
            self.expectations.observed_add(key)
            self.queue.add(key)

    def _owned(self, job: Obj) -> list[Obj]:
        uid = job["metadata"]["uid"]
        return [p for p in self.pods.by_index("owner", uid)
                if controller_uid(p) == uid]

    async def reconcile(self, key: str) -> Result:
        job = self.jobs.get(key)
        if job is None or is_deleting(job):
            return DONE
        if finished(job):
            return await self._ttl(job)
        spec, status = job["spec"], dict(job.get("status") or {})
        pods = self._owned(job)
        active = [p for p in pods if podlib.is_active(p)]
        succeeded = sum(podlib.phase(p) == "Succeeded" for p in pods)
        failed = sum(podlib.phase(p) == "Failed" for p in pods)
        status.setdefault("startTime", now(self.clock))
        completions = spec.get("completions")
        verdict = self._verdict(job, status, succeeded, failed, completions)
        requeue: Result = DONE
        if verdict is not None:
            for pod in active:
                await self._delete(pod)
            active = []
            self._finish(job, status, *verdict)
        elif self.expectations.satisfied(key):
            want = min(int(spec.get("parallelism", 1)),
                       int(completions if completions is not None else 1) - succeeded)
            await self._scale(job, key, active, max(0, want))
        deadline = spec.get("activeDeadlineSeconds")
        if deadline and verdict is None:
            started = parse_time(status["startTime"]) or self.clock.time()
            requeue = Result(requeue_after=max(0.5, started + float(deadline)
                                               - self.clock.time()))
        status.update(active=len(active), succeeded=succeeded, failed=failed,
                      ready=sum(podlib.is_ready(p) for p in active))
        await self._write_status(job, status)
        return requeue

    def _verdict(self, job: Obj, status: dict[str, Any], succeeded: int, failed: int,
                 completions: int | None) -> tuple[str, str, str] | None:
        spec = job["spec"]
        deadline = spec.get("activeDeadlineSeconds")
        started = parse_time(status.get("startTime")) or self.clock.time()
        if deadline is not None and self.clock.time() - started >= float(deadline):
            return "Failed", "DeadlineExceeded", "Job was active longer than specified deadline"
        if failed > int(spec.get("backoffLimit", 6)):
            return "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        if succeeded >= int(completions if completions is not None else 1):
            return "Complete", "", ""
        return None

    def _finish(self, job: Obj, status: dict[str, Any], kind: str, reason: str,
                message: str) -> None:
        ts = now(self.clock)
        conds = [c for c in status.get("conditions") or [] if c.get("type") != kind]
        conds.append({"type": kind, "status": "True", "lastProbeTime": ts,
                      "lastTransitionTime": ts, **({"reason": reason, "message": message}
                                                   if reason else {})})
        status["conditions"] = conds
        if kind == "Complete":
            status["completionTime"] = ts
            self.ctx.recorder.event(job, "Normal", "Completed", "Job completed")
        else:
            self.ctx.recorder.event(job, "Warning", reason, message)

    async def _scale(self, job: Obj, key: str, active: list[Obj], want: int) -> None:
        if len(active) < want:
            n = want - len(active)
            self.expectations.expect(key, adds=n)
            extra = {"batch.kubernetes.io/job-name": job["metadata"]["name"],
                     "job-name": job["metadata"]["name"],
                     "batch.kubernetes.io/controller-uid": job["metadata"]["uid"],
                     "controller-uid": job["metadata"]["uid"]}
            body = podlib.from_template(job["spec"]["template"], job, extra_labels=extra)
            for _ in range(n):
                await self.client.create("pods", body)
            self.ctx.recorder.event(job, "Normal", "SuccessfulCreate",
                                    f"Created {n} pod(s)")
        for pod in sorted(active, key=podlib.deletion_rank)[:max(0, len(active) - want)]:
            await self._delete(pod)

    async def _delete(self, pod: Obj) -> None:
        md = pod["metadata"]
        with contextlib.suppress(NotFound):
            await self.client.delete("pods", md["name"], namespace=md["namespace"])

    async def _write_status(self, job: Obj, status: dict[str, Any]) -> None:
        if status == (job.get("status") or {}):
            return
        md = job["metadata"]
        await self.client.patch_status("jobs", md["name"], namespace=md["namespace"],
                                       patch={"status": status})

    async def _ttl(self, job: Obj) -> Result:
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        if ttl is None:
            return DONE
        done_at = parse_time((job.get("status") or {}).get("completionTime")) or \
            max((parse_time(c.get("lastTransitionTime")) or 0.0)
                for c in job["status"].get("conditions") or [{}])
        left = done_at + float(ttl) - self.clock.time()
        if left > 0:
            return Result(requeue_after=left)
        md = job["metadata"]
        await self.client.delete("jobs", md["name"], namespace=md["namespace"],
                                 options=DeleteOptions(propagation_policy="Background"))
        return DONE
