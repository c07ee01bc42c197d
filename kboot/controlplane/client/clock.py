"""Time as a dependency: every control-plane component reads the clock through a :class:`Clock`.

Components receive a clock explicitly (``ControllerContext.clock``, ``WorkQueue(clock=...)``,
``LeaderElector(clock=...)``, the kubelet's pod workers) instead of calling ``time.monotonic``,
``datetime.now`` or ``asyncio.sleep`` themselves, so tests can drive time:

- :class:`LoopClock` is the real one: the monotonic and wall clocks of the host, sleeps and
  timers on the running event loop.
- :class:`FakeClock` moves only when a test calls :meth:`FakeClock.advance`, which fires the
  timers and wakes the sleepers that fall due, in deadline order, letting the woken tasks run
  (until the loop is idle) before the next one. A test that used to ``sleep(0.6)`` and hope now
  advances 15 simulated seconds in microseconds of real time, and cannot lose a race on a
  loaded machine.

Monotonic time is for durations and deadlines (backoff, lease expiry, probe periods); wall time
(:meth:`Clock.now`, timezone-aware UTC) is for timestamps written into API objects and for
comparing with them. Pure I/O timeouts (a socket read that must not hang) stay on the loop:
simulated time would only hide them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import inspect
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Protocol


class Timer(Protocol):
    """A scheduled callback; ``cancel`` is idempotent and harmless after it fired."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; only differences mean anything."""
        ...

    def now(self) -> dt.datetime:
        """The wall time, timezone-aware UTC (for timestamps in API objects)."""
        ...

    def time(self) -> float:
        """The wall time as seconds since the epoch (``now().timestamp()``)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds`` of this clock's time."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` (in the event loop) once ``delay`` seconds have passed."""
        ...


class LoopClock:
    """The host's clocks, with sleeps and timers on the running event loop."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)


REAL_CLOCK: Clock = LoopClock()
"""The one real clock; components default to it when their caller passes none."""


async def wait_event(clock: Clock, event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds of ``clock`` time pass.

    True when the event was set. The clock-driven form of
    ``asyncio.wait_for(event.wait(), timeout)`` for waits that are timing (a resync period),
    not I/O.
    """
    if event.is_set():
        return True
    done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def settle(value: bool) -> None:
        if not done.done():
            done.set_result(value)

    waiter = asyncio.ensure_future(event.wait())
    waiter.add_done_callback(lambda w: settle(not w.cancelled()))
    timer = clock.call_later(timeout, lambda: settle(False))
    try:
        return await done
    finally:
        timer.cancel()
        waiter.cancel()


async def run_until_idle(max_rounds: int = 10_000) -> None:
    """Yield until no other callback is ready to run (the loop would block on I/O or timers).

    On the standard asyncio loop this is exact (its ready queue is inspected); elsewhere it
    yields a fixed number of times. For tests over in-memory fakes: every hop through an
    ``asyncio.Queue`` or ``Event`` is a ready callback, so "idle" means "everything caused by
    what was done so far has happened".
    """
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    for _ in range(max_rounds if ready is not None else 50):
        await asyncio.sleep(0)
        if ready is not None and not ready:
            # one more round: a task woken by a future callback is scheduled one pass later
            await asyncio.sleep(0)
            if not ready:
                return


class _FakeTimer:
    __slots__ = ("callback", "cancelled", "seq", "when")

    def __init__(self, when: float, seq: int, callback: Callable[[], None]) -> None:
        self.when, self.seq, self.callback, self.cancelled = when, seq, callback, False

    def __lt__(self, other: _FakeTimer) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Simulated time for tests: nothing happens until :meth:`advance` is awaited.

    ``advance(seconds)`` moves time forward in steps, one due timer at a time (so a timer that
    schedules another within the window is honoured), running the event loop until idle after
    each, so what a woken task does is visible when ``advance`` returns.
    """

    EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def __init__(self, *, start: dt.datetime | None = None) -> None:
        self._mono = 1000.0
        self._wall0 = (start or self.EPOCH).timestamp() - self._mono
        self._timers: list[_FakeTimer] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._mono

    def time(self) -> float:
        return self._wall0 + self._mono

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time(), dt.UTC)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = _FakeTimer(self._mono + max(0.0, delay), next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        return timer

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        timer = self.call_later(seconds, wake)
        try:
            await fut
        finally:
            timer.cancel()

    @property
    def pending(self) -> int:
        """How many timers (sleepers included) wait for time to move."""
        return sum(not t.cancelled for t in self._timers)

    async def advance(self, seconds: float) -> None:
        """Move time ``seconds`` forward, firing what falls due in order; return when idle."""
        if seconds < 0:
            raise ValueError(f"time cannot go back ({seconds} s)")
        target = self._mono + seconds
        await run_until_idle()
        while True:
            while self._timers and self._timers[0].cancelled:
                heapq.heappop(self._timers)
            if not self._timers or self._timers[0].when > target:
                break
            timer = heapq.heappop(self._timers)
            self._mono = max(self._mono, timer.when)
            timer.cancelled = True
            timer.callback()
            await run_until_idle()
        self._mono = target
        await run_until_idle()

    async def advance_until(self, predicate: Callable[[], bool | Awaitable[bool]], *,
                            step: float = 0.1, limit: float = 600.0) -> float:
        """Advance in ``step``s until ``predicate()`` (sync or async) holds; return the
        simulated time taken.

        Raises ``AssertionError`` after ``limit`` simulated seconds (a test's generous bound,
        costing no real time).
        """
        async def holds() -> bool:
            result = predicate()
            return bool(await result) if inspect.isawaitable(result) else bool(result)

        start = self._mono
        await run_until_idle()
        while not await holds():
            if self._mono - start >= limit:
                raise AssertionError(f"condition not reached within {limit} simulated s")
            await self.advance(step)
        return self._mono - start
