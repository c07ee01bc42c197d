"""The clocks: FakeClock fires timers and wakes sleepers in deadline order, only when advanced;
LoopClock reads the host's clocks."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from kboot.controlplane.client.clock import REAL_CLOCK, FakeClock, run_until_idle


def test_fake_clock_wakes_sleepers_in_deadline_order_only_when_advanced() -> None:
    async def go() -> list[tuple[str, float]]:
        clock = FakeClock()
        start = clock.monotonic()
        woke: list[tuple[str, float]] = []

        async def sleeper(name: str, seconds: float) -> None:
            await clock.sleep(seconds)
            woke.append((name, clock.monotonic() - start))

        tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("b", 5), ("a", 2), ("c", 9))]
        await run_until_idle()
        assert clock.pending == 3 and woke == []
        await clock.advance(4.5)
        assert woke == [("a", 2)]
        await clock.advance(10)
        await asyncio.gather(*tasks)
        assert clock.pending == 0
        return woke

    assert asyncio.run(go()) == [("a", 2), ("b", 5), ("c", 9)]


def test_timers_scheduled_while_advancing_fire_within_the_same_advance() -> None:
    async def go() -> list[float]:
        clock = FakeClock()
        fired: list[float] = []

        def tick() -> None:
            fired.append(clock.monotonic())
            if len(fired) < 3:
                clock.call_later(1, tick)

        clock.call_later(1, tick)
        cancelled = clock.call_later(0.5, lambda: fired.append(-1.0))
        cancelled.cancel()
        await clock.advance(10)
        return [t - fired[0] for t in fired]

    assert asyncio.run(go()) == [0, 1, 2]


def test_wall_time_moves_with_monotonic_time_and_is_utc() -> None:
    async def go() -> None:
        clock = FakeClock(start=dt.datetime(2030, 5, 1, tzinfo=dt.UTC))
        assert clock.now() == dt.datetime(2030, 5, 1, tzinfo=dt.UTC)
        await clock.advance(90)
        assert clock.now() == dt.datetime(2030, 5, 1, 0, 1, 30, tzinfo=dt.UTC)
        assert clock.time() == clock.now().timestamp()
        with pytest.raises(ValueError, match="cannot go back"):
            await clock.advance(-1)

    asyncio.run(go())


def test_advance_until_reports_simulated_time_and_fails_past_its_limit() -> None:
    async def go() -> None:
        clock = FakeClock()
        done = asyncio.Event()

        async def later() -> None:
            await clock.sleep(3)
            done.set()

        task = asyncio.create_task(later())
        assert await clock.advance_until(done.is_set, step=1) == 3
        await task

        async def later_async() -> bool:
            return clock.monotonic() >= start + 5

        start = clock.monotonic()
        assert await clock.advance_until(later_async, step=1) == 5
        with pytest.raises(AssertionError, match="within 5"):
            await clock.advance_until(lambda: False, step=1, limit=5)

    asyncio.run(go())


def test_loop_clock_reads_the_host_clocks_and_runs_timers_on_the_loop() -> None:
    async def go() -> None:
        before = dt.datetime.now(dt.UTC)
        assert REAL_CLOCK.now().tzinfo is dt.UTC and REAL_CLOCK.now() >= before
        fired = asyncio.Event()
        REAL_CLOCK.call_later(0, fired.set)
        await asyncio.wait_for(fired.wait(), 10)  # generous: only a hang fails this
        a = REAL_CLOCK.monotonic()
        await REAL_CLOCK.sleep(0)
        assert REAL_CLOCK.monotonic() >= a

    asyncio.run(go())
