"""In-process watch fan-out for the backends that own their writes (memory, SQLite).

Those backends are the only writer of their data, so every committed change is published here the
moment it commits, in revision order, and each watch gets it without polling. A watch first
*subscribes*, then reads the history it missed from the backend, then drains its live queue,
dropping what the history already covered: nothing is lost between the two and nothing is seen
twice. A subscriber that falls more than ``max_backlog`` events behind is not allowed to grow
without bound: its queue is dropped and it catches up from history again (kine drops slow
watchers for the same reason; here the watch survives as long as the history does).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from kboot.controlplane.store.base import WatchEvent

log = logging.getLogger(__name__)

#: Reads up to ``limit`` events under ``prefix`` with revision > ``after``, in order; raises
#: Compacted when that history is gone.
HistoryReader = Callable[[str, int, int], Awaitable[Sequence[WatchEvent]]]

HISTORY_BATCH = 1000


class Subscriber:
    def __init__(self, prefix: str, max_backlog: int) -> None:
        self.prefix = prefix
        self.max_backlog = max_backlog
        self.queue: collections.deque[WatchEvent] = collections.deque()
        self.overflowed = False
        self.wake = asyncio.Event()

    def offer(self, event: WatchEvent) -> None:
        if not event.kv.key.startswith(self.prefix) or self.overflowed:
            return
        if len(self.queue) >= self.max_backlog:
            self.queue.clear()
            self.overflowed = True
        else:
            self.queue.append(event)
        self.wake.set()


class Hub:
    """Publishes committed events to every live subscriber."""

    def __init__(self, *, max_backlog: int = 10_000) -> None:
        self._subscribers: set[Subscriber] = set()
        self._max_backlog = max_backlog

    def publish(self, events: Sequence[WatchEvent]) -> None:
        for event in events:
            for sub in self._subscribers:
                sub.offer(event)

    def subscribe(self, prefix: str) -> Subscriber:
        sub = Subscriber(prefix, self._max_backlog)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    async def watch(
        self, prefix: str, from_revision: int, read_history: HistoryReader
    ) -> AsyncIterator[WatchEvent]:
        """Every event under ``prefix`` after ``from_revision``: history first, then live."""
        sub = self.subscribe(prefix)
        last = from_revision
        try:
            catch_up = True
            while True:
                if catch_up:
                    sub.overflowed = False
                    batch = await read_history(prefix, last, HISTORY_BATCH)
                    for event in batch:
                        yield event
                        last = event.kv.mod_revision
                    catch_up = len(batch) == HISTORY_BATCH
                    continue
                if sub.overflowed:
                    log.debug("watch on %r fell behind at %d; catching up", prefix, last)
                    catch_up = True
                    continue
                if not sub.queue:
                    sub.wake.clear()
                    await sub.wake.wait()
                    continue
                event = sub.queue.popleft()
                if event.kv.mod_revision > last:
                    yield event
                    last = event.kv.mod_revision
        finally:
            self.unsubscribe(sub)
