"""Which watchers an event is offered to: the watch cache's subscriber index.

Without an index every event of a kind is checked against every watcher of that kind, and
5,000 kubelets each watching their own pods (``fieldSelector=spec.nodeName=<node>``) would cost
5,000 selector checks per pod change. Like upstream's watch cache (which indexes pods by
``spec.nodeName``), a subscriber is filed under its namespace and, when its selection pins one
field or label to one value, under that value: an event is offered to the unindexed
subscribers of its namespace and of all namespaces, and to the indexed ones whose value the
object has now *or had before* (so a watcher still sees an object leave its selection).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kboot.controlplane.apiserver.errors import JsonObj

if TYPE_CHECKING:
    from kboot.controlplane.apiserver.watchcache import CacheEvent

SUBSCRIBER_BACKLOG = 20000

#: The indexed value of an object (None: the object has none, e.g. a missing label).
Extract = Callable[[JsonObj], str | None]


@dataclass(frozen=True)
class IndexSpec:
    """One equality the watcher's selection requires: ``extract(obj) == value``. ``name``
    identifies the index (``field:spec.nodeName``, ``label:app``): same name, same extract."""

    name: str
    extract: Extract
    value: str


class Subscriber:
    """One watcher's queue; ``closed`` means the cache dropped it (overflow or relist).

    ``accepts`` is the watcher's whole selection, checked when an event is offered: an event
    the watcher would drop never wakes its task.
    """

    def __init__(self, after: int, namespace: str | None = None,
                 accepts: Callable[[CacheEvent], bool] | None = None,
                 index: IndexSpec | None = None) -> None:
        self.after = after
        self.namespace = namespace
        self.accepts = accepts
        self.index = index
        self.queue: collections.deque[CacheEvent] = collections.deque()
        self.wake = asyncio.Event()
        self.closed = False

    def offer(self, event: CacheEvent) -> bool:
        """Queue ``event`` if the watcher wants it; False when the watcher overflowed."""
        if event.rv <= self.after or (self.accepts is not None and not self.accepts(event)):
            return True
        if len(self.queue) >= SUBSCRIBER_BACKLOG:
            self.close()
            return False
        self.queue.append(event)
        self.wake.set()
        return True

    def close(self) -> None:
        self.closed = True
        self.wake.set()

    async def next_batch(self, timeout: float) -> list[CacheEvent]:
        if not self.queue and not self.closed:
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout)
            except TimeoutError:
                return []
        batch = list(self.queue)
        self.queue.clear()
        return batch


class _Index:
    def __init__(self, extract: Extract) -> None:
        self.extract = extract
        self.by_value: dict[str, set[Subscriber]] = {}


class Fanout:
    """Subscribers by namespace (None: all namespaces) and by indexed value."""

    def __init__(self) -> None:
        self._plain: dict[str | None, set[Subscriber]] = {}
        self._indexed: dict[str | None, dict[str, _Index]] = {}

    def add(self, sub: Subscriber) -> None:
        if sub.index is None:
            self._plain.setdefault(sub.namespace, set()).add(sub)
            return
        indexes = self._indexed.setdefault(sub.namespace, {})
        index = indexes.get(sub.index.name)
        if index is None:
            index = indexes[sub.index.name] = _Index(sub.index.extract)
        index.by_value.setdefault(sub.index.value, set()).add(sub)

    def remove(self, sub: Subscriber) -> None:
        if sub.index is None:
            plain = self._plain.get(sub.namespace)
            if plain is not None:
                plain.discard(sub)
                if not plain:
                    del self._plain[sub.namespace]
            return
        indexes = self._indexed.get(sub.namespace, {})
        index = indexes.get(sub.index.name)
        if index is None:
            return
        bucket = index.by_value.get(sub.index.value)
        if bucket is not None:
            bucket.discard(sub)
            if not bucket:
                del index.by_value[sub.index.value]
        if not index.by_value:
            del indexes[sub.index.name]
            if not indexes:
                del self._indexed[sub.namespace]

    def offer(self, event: CacheEvent, namespace: str | None) -> None:
        """Offer ``event`` (of ``namespace``) to every subscriber that may want it."""
        for ns in (None, namespace) if namespace else (None,):
            for sub in self._candidates(ns, event):
                if not sub.offer(event):
                    self.remove(sub)

    def _candidates(self, ns: str | None, event: CacheEvent) -> list[Subscriber]:
        out = list(self._plain.get(ns, ()))
        for index in self._indexed.get(ns, {}).values():
            values = {index.extract(event.obj)}
            if event.prev is not None:
                values.add(index.extract(event.prev))
            for value in values:
                if value is not None:
                    out.extend(index.by_value.get(value, ()))
        return out

    def __iter__(self) -> Iterator[Subscriber]:
        for plain in self._plain.values():
            yield from plain
        for indexes in self._indexed.values():
            for index in indexes.values():
                for bucket in index.by_value.values():
                    yield from bucket

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def close_all(self) -> None:
        for sub in list(self):
            sub.close()
        self._plain.clear()
        self._indexed.clear()
