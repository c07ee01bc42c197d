"""Leader election over the fake, on a fake clock: one leader, the loser never acts, takeover
after release or expiry, a leader that cannot renew stops acting. Time is simulated, so the
real default timings (15 s lease, 10 s renew deadline, 2 s retry) cost no wall time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from kboot.controlplane.client.clock import FakeClock, run_until_idle
from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.client.leaderelection import (
    LeaderElectionConfig,
    run_with_leader_election,
)

CONFIG = LeaderElectionConfig()


def _acting(log: list[str], me: str) -> Callable[[], Awaitable[None]]:
    async def cb() -> None:
        log.append(me)
        await asyncio.Event().wait()
    return cb


async def _stop(task: asyncio.Task[bool]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_only_one_candidate_acts_and_standby_takes_over_after_release() -> None:
    async def go() -> list[str]:
        clock = FakeClock()
        c = FakeClient(clock=clock)
        acting: list[str] = []
        a = asyncio.create_task(run_with_leader_election(
            c, name="sched", identity="a", callback=_acting(acting, "a"), config=CONFIG,
            clock=clock))
        await run_until_idle()
        assert acting == ["a"]
        b = asyncio.create_task(run_with_leader_election(
            c, name="sched", identity="b", callback=_acting(acting, "b"), config=CONFIG,
            clock=clock))
        await clock.advance(4 * CONFIG.lease_duration)
        assert acting == ["a"]  # b waits while a renews
        lease = await c.get("leases", "sched", namespace="kube-system")
        assert lease["spec"]["holderIdentity"] == "a"
        await _stop(a)  # a stops cleanly: it releases the lease, b takes over at once
        lease = await c.get("leases", "sched", namespace="kube-system")
        assert lease["spec"]["holderIdentity"] == ""
        await clock.advance(CONFIG.retry_period)  # b's next attempt, not a lease duration
        await _stop(b)
        return acting

    assert asyncio.run(go()) == ["a", "b"]


def test_leader_that_cannot_renew_stops_acting_within_the_renew_deadline() -> None:
    async def go() -> tuple[bool, bool, float]:
        clock = FakeClock()
        c = FakeClient(clock=clock)
        cancelled = asyncio.Event()

        async def cb() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

        task = asyncio.create_task(run_with_leader_election(
            c, name="cm", identity="a", callback=cb, config=CONFIG, clock=clock))
        await run_until_idle()
        # someone else steals the lease (as after a partition)
        lease = await c.get("leases", "cm", namespace="kube-system")
        lease["spec"]["holderIdentity"] = "thief"
        lease["spec"]["renewTime"] = "2099-01-01T00:00:00.000000Z"
        await c.replace("leases", lease)
        took = await clock.advance_until(task.done, step=0.5)
        return task.result(), cancelled.is_set(), took

    lost, cancelled, took = asyncio.run(go())
    assert (lost, cancelled) == (False, True)
    assert took <= CONFIG.renew_deadline + CONFIG.retry_period  # simulated seconds


def test_standby_waits_out_a_silent_holder() -> None:
    async def go() -> tuple[float, str]:
        clock = FakeClock()
        c = FakeClient(clock=clock)
        # a holder that renewed once and died without releasing
        await c.create("leases", {"metadata": {"name": "cm", "namespace": "kube-system"},
                                  "spec": {"holderIdentity": "dead",
                                           "renewTime": "2026-01-01T00:00:00.000000Z",
                                           "leaseDurationSeconds": 1}})
        acting: list[str] = []
        task = asyncio.create_task(run_with_leader_election(
            c, name="cm", identity="b", callback=_acting(acting, "b"), config=CONFIG,
            clock=clock))
        waited = await clock.advance_until(lambda: bool(acting), step=0.5)
        holder = (await c.get("leases", "cm", namespace="kube-system"))["spec"]
        await _stop(task)
        return waited, holder["holderIdentity"]

    waited, holder = asyncio.run(go())
    assert holder == "b"
    # observed silence for a whole lease duration, never trusting the old renewTime's
    # leaseDurationSeconds; and no longer than one retry after that
    assert CONFIG.lease_duration <= waited <= CONFIG.lease_duration + CONFIG.retry_period + 0.5
