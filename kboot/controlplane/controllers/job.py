"""Job: run pods until ``completions`` succeed, at most ``parallelism`` at a time.

Failed pods count against ``backoffLimit`` (default 6): one more failure than that and the Job
fails (``BackoffLimitExceeded``); ``activeDeadlineSeconds`` past ``startTime`` fails it with
``DeadlineExceeded``; a ``podFailurePolicy`` rule may fail it at once (``PodFailurePolicy``)
or ignore a failure. Either way its active pods are deleted. A finished Job gets the
``Complete`` or ``Failed`` condition and ``completionTime``; with ``ttlSecondsAfterFinished``
it is deleted (pods cascade through the garbage collector) that long after finishing.
``completionMode: Indexed`` runs one successful pod per index (:mod:`.jobparts`).
``suspend: true`` deletes the active pods and stops the clock (``Suspended`` condition);
resuming restarts ``startTime``, as upstream.
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
from kboot.controlplane.controllers.jobparts import (
    failure_action,
    index_of,
    indexed_template,
    missing_indexes,
    ranges,
)

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
        completions = spec.get("completions")
        done = self._succeeded(job, status, pods)
        failed, fail_message = self._failures(spec, pods)
        suspended = bool(spec.get("suspend"))
        self._suspension(job, status, suspended)
        if not suspended:
            status.setdefault("startTime", now(self.clock))
        verdict = self._verdict(job, status, len(done), failed, completions, fail_message)
        requeue: Result = DONE
        if verdict is not None or suspended:
            for pod in active:
                await self._delete(pod)
            active = []
            if verdict is not None:
                self._finish(job, status, *verdict)
        elif self.expectations.satisfied(key):
            await self._scale(job, key, active, done)
        deadline = spec.get("activeDeadlineSeconds")
        if deadline and verdict is None and not suspended:
            started = parse_time(status["startTime"]) or self.clock.time()
            requeue = Result(requeue_after=max(0.5, started + float(deadline)
                                               - self.clock.time()))
        status.update(active=len(active), succeeded=len(done), failed=failed,
                      ready=sum(podlib.is_ready(p) for p in active))
        await self._write_status(job, status)
        return requeue

    def _succeeded(self, job: Obj, status: dict[str, Any], pods: list[Obj]) -> set[Any]:
        """Succeeded pods' keys, or their distinct indexes for an Indexed Job."""
        won = [p for p in pods if podlib.phase(p) == "Succeeded"]
        spec = job["spec"]
        if spec.get("completionMode") != "Indexed":
            return {p["metadata"]["name"] for p in won}
        limit = int(spec.get("completions") or 0)
        indexes = {i for i in map(index_of, won) if i is not None and 0 <= i < limit}
        if indexes:
            status["completedIndexes"] = ranges(indexes)
        return indexes

    def _failures(self, spec: Obj, pods: list[Obj]) -> tuple[int, str]:
        """Failures that count against ``backoffLimit``, and a FailJob rule's message."""
        counted, fail = 0, ""
        for pod in pods:
            if podlib.phase(pod) != "Failed":
                continue
            action, message = failure_action(spec.get("podFailurePolicy"), pod)
            if action == "FailJob":
                fail = fail or message
            if action != "Ignore":
                counted += 1
        return counted, fail

    def _suspension(self, job: Obj, status: dict[str, Any], suspended: bool) -> None:
        cond = podlib.condition(job, "Suspended")
        was = bool(cond and cond.get("status") == "True")
        if suspended == was:
            return
        ts = now(self.clock)
        reason, message = ("JobSuspended", "Job suspended") if suspended else \
            ("JobResumed", "Job resumed")
        podlib.set_condition(status, {"type": "Suspended", "status": str(suspended),
                                      "reason": reason, "message": message,
                                      "lastProbeTime": ts}, ts)
        if not suspended:
            status["startTime"] = ts  # the deadline counts from the resumption
        self.ctx.recorder.event(job, "Normal", "Suspended" if suspended else "Resumed", message)

    def _verdict(self, job: Obj, status: dict[str, Any], succeeded: int, failed: int,
                 completions: int | None, fail_message: str) -> tuple[str, str, str] | None:
        spec = job["spec"]
        if fail_message:
            return "Failed", "PodFailurePolicy", fail_message
        deadline = spec.get("activeDeadlineSeconds")
        started = parse_time(status.get("startTime")) or self.clock.time()
        if deadline is not None and not spec.get("suspend") and \
                self.clock.time() - started >= float(deadline):
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

    async def _scale(self, job: Obj, key: str, active: list[Obj], done: set[Any]) -> None:
        spec = job["spec"]
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1))
        remaining = int(completions if completions is not None else 1) - len(done)
        want = max(0, min(parallelism, remaining))
        md = job["metadata"]
        extra = {"batch.kubernetes.io/job-name": md["name"], "job-name": md["name"],
                 "batch.kubernetes.io/controller-uid": md["uid"], "controller-uid": md["uid"]}
        bodies: list[Obj] = []
        if spec.get("completionMode") == "Indexed":
            for index in missing_indexes(int(completions or 0), done, active)[
                    :max(0, parallelism - len(active))]:
                body = podlib.from_template(indexed_template(spec["template"], md["name"], index),
                                            job, extra_labels=extra)
                body["metadata"]["generateName"] = f"{md['name']}-{index}-"
                bodies.append(body)
        elif len(active) < want:
            body = podlib.from_template(spec["template"], job, extra_labels=extra)
            bodies = [body] * (want - len(active))
        if bodies:
            self.expectations.expect(key, adds=len(bodies))
            for body in bodies:
                await self.client.create("pods", body)
            self.ctx.recorder.event(job, "Normal", "SuccessfulCreate",
                                    f"Created {len(bodies)} pod(s)")
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
