"""The controller runner: errors requeue with backoff, success forgets, requeue_after delays;
the event recorder aggregates repeats."""

from __future__ import annotations

import asyncio
from typing import Any

from kboot.controlplane.client.clock import FakeClock
from kboot.controlplane.client.controller import Result, run_controller
from kboot.controlplane.client.events import EventRecorder
from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.client.workqueue import WorkQueue


class Flaky:
    name = "flaky"

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def reconcile(self, key: str) -> Result:
        self.calls.append(key)
        if len(self.calls) < 3:
            raise RuntimeError("transient")
        if len(self.calls) == 3:
            return Result(requeue_after=10)
        return Result()


def test_failing_key_is_retried_until_it_succeeds() -> None:
    async def go() -> tuple[list[int], int]:
        clock = FakeClock()
        q = WorkQueue(base_delay=1, clock=clock)
        r = Flaky()
        task = asyncio.create_task(run_controller(r, q, workers=2))
        q.add("ns/a")
        seen = []
        # failure 1 at t=0, backoff 1 s; failure 2 at t=1, backoff 2 s; success at t=3 asks
        # for a requeue after 10 s; the 4th pass at t=13 is the last
        for step in (0, 0.9, 0.2, 1.8, 0.2, 9.8, 0.2, 100):
            await clock.advance(step)
            seen.append(len(r.calls))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return seen, q.num_requeues("ns/a")

    seen, requeues = asyncio.run(go())
    assert seen == [1, 1, 2, 2, 3, 3, 4, 4]  # 2 failures, 1 requeue_after, then done
    assert requeues == 0


def test_event_recorder_aggregates_repeats() -> None:
    async def go() -> list[dict[str, Any]]:
        c = FakeClient()
        pod = await c.create("pods", {"metadata": {"name": "p", "namespace": "ns"}})
        rec = EventRecorder(c, "default-scheduler")
        for _ in range(3):
            await rec.record(pod, "Warning", "FailedScheduling", "0/1 nodes are available")
        await rec.record(pod, "Normal", "Scheduled", "assigned")
        return c.all("events", "ns")

    events = asyncio.run(go())
    assert sorted((e["reason"], e["count"]) for e in events) == [
        ("FailedScheduling", 3), ("Scheduled", 1)]
    assert all(e["involvedObject"]["name"] == "p" for e in events)
