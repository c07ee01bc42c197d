"""Workqueue semantics: dedup, one worker per key, dirty-while-processing, backoff, delays."""

from __future__ import annotations

import asyncio

import pytest

from kboot.controlplane.client.clock import FakeClock, run_until_idle
from kboot.controlplane.client.workqueue import ShutDown, WorkQueue


def test_adding_a_queued_key_twice_queues_it_once() -> None:
    async def go() -> None:
        q = WorkQueue()
        q.add("a")
        q.add("b")
        q.add("a")
        assert len(q) == 2
        assert [await q.get(), await q.get()] == ["a", "b"]

    asyncio.run(go())


def test_key_added_while_processing_is_requeued_only_after_done() -> None:
    async def go() -> None:
        q = WorkQueue()
        q.add("a")
        key = await q.get()
        q.add("a")  # dirty while processing: must not be handed out concurrently
        assert len(q) == 0
        q.done(key)
        assert len(q) == 1
        assert await q.get() == "a"

    asyncio.run(go())


def test_two_workers_never_hold_the_same_key() -> None:
    async def go() -> list[str]:
        clock = FakeClock()
        q = WorkQueue(clock=clock)
        holding: set[str] = set()
        log: list[str] = []

        async def worker() -> None:
            while True:
                try:
                    k = await q.get()
                except ShutDown:
                    return
                assert k not in holding
                holding.add(k)
                await clock.sleep(0.001)  # the work takes time: others run meanwhile
                log.append(k)
                holding.discard(k)
                q.done(k)

        tasks = [asyncio.create_task(worker()) for _ in range(4)]
        for _ in range(20):
            for k in ("x", "y"):
                q.add(k)
            await clock.advance(0.0005)
        await clock.advance(0.05)
        assert not holding and len(q) == 0  # everything added was processed
        q.shutdown()
        await asyncio.gather(*tasks)
        return log

    log = asyncio.run(go())
    assert {"x", "y"} <= set(log)


@pytest.mark.parametrize("failures,expected", [(0, 0.01), (1, 0.02), (3, 0.08), (20, 1.0)])
def test_backoff_grows_exponentially_per_key_and_is_capped(failures: int,
                                                            expected: float) -> None:
    async def go() -> float:
        q = WorkQueue(base_delay=0.01, max_delay=1.0)
        for _ in range(failures):
            q.backoff("k")
        assert q.backoff("other") == 0.01  # independent per key
        return q.backoff("k")

    assert asyncio.run(go()) == pytest.approx(expected)


def test_forget_resets_backoff() -> None:
    async def go() -> None:
        q = WorkQueue(base_delay=0.01)
        q.backoff("k")
        q.backoff("k")
        q.forget("k")
        assert q.num_requeues("k") == 0

    asyncio.run(go())


def test_add_after_delivers_later_and_earliest_delay_wins() -> None:
    async def go() -> None:
        clock = FakeClock()
        q = WorkQueue(clock=clock)
        q.add_after("k", 0.5)
        q.add_after("k", 0.02)
        assert len(q) == 0
        await clock.advance(0.019)
        assert len(q) == 0
        await clock.advance(0.002)
        assert len(q) == 1
        assert await q.get() == "k"
        q.done("k")
        await clock.advance(1)
        assert len(q) == 0  # the later delay was dropped: earliest wins, delivered once

    asyncio.run(go())


def test_shutdown_wakes_waiting_workers() -> None:
    async def go() -> None:
        q = WorkQueue()
        waiter = asyncio.create_task(q.get())
        await run_until_idle()
        assert not waiter.done()
        q.shutdown()
        with pytest.raises(ShutDown):
            await waiter

    asyncio.run(go())
