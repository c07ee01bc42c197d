"""Leader election over the fake: one leader, the loser never acts, takeover after expiry."""

from __future__ import annotations

import asyncio

from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.client.leaderelection import (
    LeaderElectionConfig,
    run_with_leader_election,
)

FAST = LeaderElectionConfig(lease_duration=0.4, renew_deadline=0.3, retry_period=0.05)


def test_only_one_candidate_acts_and_standby_takes_over_after_expiry() -> None:
    async def go() -> list[str]:
        c = FakeClient()
        acting: list[str] = []
        stop_a = asyncio.Event()

        def work(me: str, stop: asyncio.Event | None = None) -> object:
            async def cb() -> None:
                acting.append(me)
                await (stop.wait() if stop else asyncio.Event().wait())
            return cb

        a = asyncio.create_task(run_with_leader_election(
            c, name="sched", identity="a", callback=work("a", stop_a), config=FAST))  # type: ignore[arg-type]
        await asyncio.sleep(0.1)
        b = asyncio.create_task(run_with_leader_election(
            c, name="sched", identity="b", callback=work("b"), config=FAST))  # type: ignore[arg-type]
        await asyncio.sleep(0.6)
        assert acting == ["a"]  # b waits while a renews
        lease = await c.get("leases", "sched", namespace="kube-system")
        assert lease["spec"]["holderIdentity"] == "a"
        a.cancel()  # a stops cleanly: it releases the lease, b takes over at once
        await asyncio.gather(a, return_exceptions=True)
        lease = await c.get("leases", "sched", namespace="kube-system")
        assert lease["spec"]["holderIdentity"] == ""
        await asyncio.sleep(0.3)
        b.cancel()
        await asyncio.gather(b, return_exceptions=True)
        return acting

    assert asyncio.run(go()) == ["a", "b"]


def test_leader_that_cannot_renew_stops_acting() -> None:
    async def go() -> tuple[bool, bool]:
        c = FakeClient()
        cancelled = asyncio.Event()

        async def cb() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

        task = asyncio.create_task(run_with_leader_election(
            c, name="cm", identity="a", callback=cb, config=FAST))
        await asyncio.sleep(0.1)
        # someone else steals the lease (as after a partition)
        lease = await c.get("leases", "cm", namespace="kube-system")
        lease["spec"]["holderIdentity"] = "thief"
        lease["spec"]["renewTime"] = "2099-01-01T00:00:00.000000Z"
        await c.replace("leases", lease)
        result = await asyncio.wait_for(task, 2)
        return result, cancelled.is_set()

    assert asyncio.run(go()) == (False, True)


def test_standby_waits_out_a_silent_holder() -> None:
    async def go() -> tuple[float, str]:
        c = FakeClient()
        # a holder that renewed once and died without releasing
        await c.create("leases", {"metadata": {"name": "cm", "namespace": "kube-system"},
                                  "spec": {"holderIdentity": "dead",
                                           "renewTime": "2026-01-01T00:00:00.000000Z",
                                           "leaseDurationSeconds": 1}})
        started = asyncio.get_running_loop().time()
        took = asyncio.Event()

        async def cb() -> None:
            took.set()
            await asyncio.Event().wait()

        task = asyncio.create_task(run_with_leader_election(
            c, name="cm", identity="b", callback=cb, config=FAST))
        await asyncio.wait_for(took.wait(), 2)
        waited = asyncio.get_running_loop().time() - started
        holder = (await c.get("leases", "cm", namespace="kube-system"))["spec"]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return waited, holder["holderIdentity"]

    waited, holder = asyncio.run(go())
    assert holder == "b"
    assert waited >= FAST.lease_duration  # observed silence, never trusting the old renewTime
