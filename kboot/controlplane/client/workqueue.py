"""A keyed work queue with the semantics controllers rely on (client-go's workqueue).

- a key is in the queue at most once; adding it again while queued is a no-op;
- a key is never handed to two workers at once: adding it while it is being processed marks
  it dirty, and ``done()`` puts it back so the change is seen by the next pass;
- ``add_rate_limited`` delays a failing key with per-key exponential backoff, ``forget`` resets
  it; ``add_after`` schedules a delayed add (the earliest pending delay wins).
"""

from __future__ import annotations

import asyncio
import collections

from kboot.controlplane.client.clock import REAL_CLOCK, Clock, Timer
from kboot.controlplane.errors import ControlPlaneError


class ShutDown(ControlPlaneError):
    """The queue was shut down; workers should exit."""


class WorkQueue:
    """Delays (``add_after``, backoff) run on ``clock``: a test's :class:`FakeClock` fires them."""

    def __init__(self, *, base_delay: float = 0.005, max_delay: float = 60.0,
                 clock: Clock = REAL_CLOCK) -> None:
        self._queue: collections.deque[str] = collections.deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._failures: dict[str, int] = {}
        self._delayed: dict[str, tuple[float, Timer]] = {}
        self.clock = clock
        self._wakeup = asyncio.Event()
        self._shutdown = False
        self.base_delay = base_delay
        self.max_delay = max_delay

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutdown

    def add(self, key: str) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._wakeup.set()

    def add_after(self, key: str, delay: float) -> None:
        if self._shutdown:
            return
        if delay <= 0:
            self.add(key)
            return
        when = self.clock.monotonic() + delay
        pending = self._delayed.get(key)
        if pending is not None:
            if pending[0] <= when:
                return
            pending[1].cancel()
        self._delayed[key] = (when, self.clock.call_later(delay, lambda: self._fire(key)))

    def _fire(self, key: str) -> None:
        self._delayed.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: str) -> None:
        self.add_after(key, self.backoff(key))

    def backoff(self, key: str) -> float:
        """The delay for the key's next failure (and count it)."""
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        return float(min(self.base_delay * (2 ** n), self.max_delay))

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: str) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> str:
        await asyncio.sleep(0)  # always yield: a busy queue must not starve informers
        while not self._queue:
            if self._shutdown:
                raise ShutDown
            self._wakeup.clear()
            await self._wakeup.wait()
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        if self._queue:
            self._wakeup.set()
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wakeup.set()

    def shutdown(self) -> None:
        self._shutdown = True
        for _, handle in self._delayed.values():
            handle.cancel()
        self._delayed.clear()
        self._wakeup.set()
