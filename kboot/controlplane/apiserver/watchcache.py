"""The watch cache (reference §15): one store watch per resource type, fanned out.

Each :class:`KindCache` lists its prefix once, then follows one store watch, keeping the current
objects and a ring buffer of recent events. Watches subscribe to it (replaying buffered events
after their resourceVersion), ``resourceVersion=0`` lists are answered from it, and RBAC and the
node authorizer read their objects from it. Without it every informer would be its own store
watcher. A subscriber that falls too far behind is cut off (its stream ends and the client
re-watches from its last resourceVersion), so one slow client never holds memory hostage.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.apiserver.errors import JsonObj, StatusError, gone_too_old
from kboot.controlplane.apiserver.fanout import Fanout, IndexSpec, Subscriber
from kboot.controlplane.apiserver.metrics import Histogram
from kboot.controlplane.apiserver.storage import ObjectStorage, collection_prefix
from kboot.controlplane.apiserver.strategy import Strategy
from kboot.controlplane.store.base import Compacted, WatchEvent

log = logging.getLogger(__name__)

BUFFER_EVENTS = 5000
#: How long a consistent read waits for the watch cache to reach the store's revision before it
#: reads the store instead (upstream's consistent-read-from-cache blocks up to 3 s, then falls
#: back to etcd)
CONSISTENT_WAIT = 3.0


def _encode(obj: JsonObj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def event_line(event_type: str, body: bytes) -> bytes:
    """One watch line from an already serialised object."""
    return b'{"type":"' + event_type.encode() + b'","object":' + body + b"}\n"


class RevisionWaiters:
    """Callers waiting for a revision: a heap, so reaching a revision checks only the smallest."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, asyncio.Future[None]]] = []
        self._tickets = itertools.count()

    def release(self, revision: int) -> None:
        """Wake every waiter for ``revision`` or older."""
        heap = self._heap
        while heap and heap[0][0] <= revision:
            future = heapq.heappop(heap)[2]
            if not future.done():
                future.set_result(None)

    async def wait(self, revision: int, timeout: float) -> bool:
        """Until :meth:`release` reaches ``revision``; False after ``timeout`` seconds."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (revision, next(self._tickets), future))
        try:
            await asyncio.wait_for(future, max(timeout, 0))
        except TimeoutError:
            return False
        return True


@dataclass
class CacheEvent:
    type: str  # ADDED | MODIFIED | DELETED
    rv: int
    obj: JsonObj
    prev: JsonObj | None
    _body: bytes | None = field(default=None, repr=False)
    _line: bytes | None = field(default=None, repr=False)

    def body(self) -> bytes:
        """The object's JSON (computed once, shared by all watchers and the list cache)."""
        if self._body is None:
            self._body = _encode(self.obj)
        return self._body

    def line(self) -> bytes:
        """The event as one JSON watch line (computed once, shared by all watchers)."""
        if self._line is None:
            self._line = event_line(self.type, self.body())
        return self._line


class LagClock:
    """Times the watch caches' lag: when each of this apiserver's writes returned from the
    store, until a cache applies that revision (``apiserver_watch_cache_lag_seconds``); 0 when
    the cache applied it before the write's reply was read (SQLite's in-process feed)."""

    LIMIT = 100_000  # writes whose event never comes (another kind's relist) are forgotten

    def __init__(self) -> None:
        self.histogram = Histogram()
        self.monotonic: Callable[[], float] = time.monotonic
        self._acked: dict[int, float] = {}  # written, not applied yet
        self._early: dict[int, bool] = {}  # applied, the write not returned (or not ours)

    def bind(self, histogram: Histogram, monotonic: Callable[[], float]) -> None:
        """Observe into the server's metrics, timed by the server's clock."""
        self.histogram, self.monotonic = histogram, monotonic

    def written(self, revision: int) -> None:
        if self._early.pop(revision, False):  # applied before the write's reply was read
            self.histogram.observe(0.0)
            return
        if len(self._acked) >= self.LIMIT:
            self._acked.clear()
        self._acked[revision] = self.monotonic()

    def applied(self, revision: int) -> None:
        acked = self._acked.pop(revision, None)
        if acked is not None:
            self.histogram.observe(max(0.0, self.monotonic() - acked))
            return
        if len(self._early) >= self.LIMIT:  # mostly other apiservers' writes: never claimed
            self._early.clear()
        self._early[revision] = True


class KindCache:
    """Current objects and recent events of one resource type."""

    def __init__(self, storage: ObjectStorage, kind: ResourceKind,
                 lag: LagClock | None = None) -> None:
        self.storage = storage
        self.kind = kind
        self.lag = lag
        self.prefix = collection_prefix(kind, None)
        self.objects: dict[str, JsonObj] = {}
        self.encoded: dict[str, bytes] = {}  # serialised objects, filled on demand
        self.revision = 0
        self.oldest = 0  # buffered events cover revisions (oldest, revision]
        self.events: collections.deque[CacheEvent] = collections.deque(maxlen=BUFFER_EVENTS)
        self.subscribers = Fanout()
        self.ended = False  # the server is shutting down (end)
        self.ready = asyncio.Event()
        self._waiters = RevisionWaiters()  # wait_for callers
        self.listeners: list[Callable[[CacheEvent], None]] = []

    async def run(self) -> None:
        """List then follow the store watch forever; relist after compaction or errors."""
        while True:
            try:
                await self._list()
                async for ev in self.storage.store.watch(self.prefix,
                                                         from_revision=self.revision):
                    self._apply(ev)
            except asyncio.CancelledError:
                raise
            except Compacted:
                log.info("watch cache %s: history compacted, relisting", self.kind.plural)
            except Exception:
                log.exception("watch cache %s failed; relisting", self.kind.plural)
                await asyncio.sleep(1)

    async def _list(self) -> None:
        objects: dict[str, JsonObj] = {}
        start, revision = "", 0
        while True:
            page = await self.storage.list(self.kind, None, revision=revision, limit=1000,
                                           start_after=start)
            revision = page.revision
            for obj in page.items:
                meta = obj["metadata"]
                objects[self.kind.key(meta.get("namespace"), meta["name"])] = obj
            if not page.more:
                break
            start = page.last_key
        self.close_subscribers()  # their view may have a gap; they re-watch
        self.events.clear()
        self.objects, self.revision, self.oldest = objects, revision, revision
        self.encoded = {}
        self.ready.set()
        self._waiters.release(revision)

    def close_subscribers(self) -> None:
        self.subscribers.close_all()

    def end(self) -> None:
        """Shutdown: end every watch, and every watch started from now on once it has sent the
        buffered events it asked for (a client re-watching on a kept-alive connection would
        otherwise hold the server's drain until its timeout)."""
        self.ended = True
        self.close_subscribers()

    def _apply(self, ev: WatchEvent) -> None:
        """Apply one store event: objects, the event buffer, subscribers, listeners, waiters.

        Synchronous on purpose: a batch of events from the store is applied without yielding
        to the loop in between, so readers never see half a batch and no event waits for a
        loop iteration of its own."""
        key, rev = ev.kv.key, ev.kv.mod_revision
        prev = self.objects.get(key)
        if ev.type == "DELETE":
            if prev is None and ev.prev_kv is None:
                return
            last = prev if prev is not None else \
                self.storage.decode_as(self.kind, ev.prev_kv)  # type: ignore[arg-type]
            obj = {**last, "metadata": {**last["metadata"], "resourceVersion": str(rev)}}
            self.objects.pop(key, None)
            event = CacheEvent("DELETED", rev, obj, prev)
        else:
            obj = self.storage.decode_as(self.kind, ev.kv)
            self.objects[key] = obj
            event = CacheEvent("MODIFIED" if prev is not None else "ADDED", rev, obj, prev)
        self.encoded.pop(key, None)
        if len(self.events) == self.events.maxlen:
            self.oldest = self.events[0].rv
        self.events.append(event)
        self.revision = rev
        self.subscribers.offer(event, obj["metadata"].get("namespace") or None)
        for listener in self.listeners:
            listener(event)
        self._waiters.release(rev)
        if self.lag is not None:
            self.lag.applied(rev)

    def subscribe(self, after: int, namespace: str | None = None,
                  accepts: Callable[[CacheEvent], bool] | None = None,
                  index: IndexSpec | None = None) -> Subscriber:
        """Events with revision > ``after`` (of ``namespace``, or all, that ``accepts``):
        buffered ones now, live ones as they come. ``index`` is an equality ``accepts``
        implies, so the cache offers the subscriber only events that can satisfy it."""
        if after < self.oldest:
            raise gone_too_old(after, self.oldest)
        sub = Subscriber(after, namespace or None, accepts, index)
        for event in self.events:
            if sub.namespace is None or event.obj["metadata"].get("namespace") == sub.namespace:
                sub.offer(event)
        if self.ended:
            sub.close()
        else:
            self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.remove(sub)

    def subscriber_count(self) -> int:
        return len(self.subscribers)

    def snapshot(self, namespace: str | None) -> tuple[list[JsonObj], int]:
        """Current objects (in key order) and the revision they reflect."""
        keys = self.keys(namespace)
        return [self.objects[k] for k in keys], self.revision

    def keys(self, namespace: str | None) -> list[str]:
        prefix = collection_prefix(self.kind, namespace)
        return sorted(k for k in self.objects if k.startswith(prefix))

    def encoded_of(self, key: str) -> bytes:
        """The current object at ``key`` as JSON bytes (memoised until it changes)."""
        body = self.encoded.get(key)
        if body is None:
            body = self.encoded[key] = _encode(self.objects[key])
        return body

    async def wait_for(self, revision: int, timeout: float = 3.0) -> bool:
        """Wait until the cache has applied ``revision``; False on timeout."""
        return self.revision >= revision or await self._waiters.wait(revision, timeout)


class RevisionTracker:
    """Which store revision the apiserver has seen, and the last revision under every prefix.

    One store watch over the whole keyspace, values unused. It answers what a consistent read
    from the watch cache needs and a kind's own watch cannot tell: a write to *another* kind
    moves the store's revision without an event for this kind, so "the cache has applied the
    store's revision" is, for each kind, "the kind's cache has applied the last event under its
    prefix at or before that revision" (:meth:`last_under`). upstream gets the same answer from
    etcd progress notifications, which etcd 3.4.23 (kboot's) may send ahead of events.

    ``start`` is where the current watch began: what happened under a prefix before it is not
    known, so :meth:`last_under` answers ``start`` for a prefix without a later event.
    """

    def __init__(self, storage: ObjectStorage) -> None:
        self.storage = storage
        self.start = 0
        self.revision = 0
        self.started = asyncio.Event()
        self._last: dict[str, int] = {}
        self._waiters = RevisionWaiters()

    async def run(self) -> None:
        while True:
            try:
                start = await self.storage.store.current_revision()
                self._last, self.start, self.revision = {}, start, start
                self.started.set()
                self._waiters.release(start)
                async for ev in self.storage.store.watch("", from_revision=start):
                    self._note(ev.kv.key, ev.kv.mod_revision)
            except asyncio.CancelledError:
                raise
            except Compacted:  # fell behind the compacted history: start again from now
                await asyncio.sleep(0.1)
            except Exception as err:  # a broken stream, a backlog overflow, the store down
                log.warning("watch cache revision tracker restarting: %s", err)
                await asyncio.sleep(1)

    def _note(self, key: str, revision: int) -> None:
        """Record ``revision`` under every ``/``-ending prefix of ``key`` (a kind's storage
        prefix, and its namespace's), then wake the waiters it satisfies."""
        last, end = self._last, len(key) - 1
        while (end := key.rfind("/", 0, end)) > 0:
            last[key[:end + 1]] = revision
        self.revision = revision
        self._waiters.release(revision)

    def last_under(self, prefix: str) -> int:
        """The revision of the last event seen under ``prefix`` (``start`` if none since)."""
        return self._last.get(prefix, self.start)

    async def wait_for(self, revision: int, timeout: float) -> bool:
        """Until the tracker has seen ``revision``; False after ``timeout`` seconds."""
        return (self.started.is_set() and self.revision >= revision) or \
            await self._waiters.wait(revision, timeout)


class WatchCaches:
    """One cache per served kind, started together; ``get`` waits until a cache has listed.

    The caches follow the storage's kind registry: a kind registered while the server runs
    gets a cache (started at once when the others run), an unregistered one loses it (its
    watch streams end)."""

    def __init__(self, storage: ObjectStorage) -> None:
        self.storage = storage
        self.lag = LagClock()
        storage.on_written = self.lag.written
        self.caches = {(k.group, k.plural): KindCache(storage, k, self.lag)
                       for k in storage.kinds.kinds()}
        self.tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.started = False
        self.tracker = RevisionTracker(storage)
        self.consistent_wait = CONSISTENT_WAIT
        self._tracking: asyncio.Task[None] | None = None
        self._retired: list[asyncio.Task[None]] = []  # caches of unregistered kinds, ending
        self._unsubscribe = storage.kinds.subscribe(self._kinds_changed)

    def _kinds_changed(self, change: str, strategy: Strategy) -> None:
        kind = strategy.kind
        key = (kind.group, kind.plural)
        if change == "added":
            self.caches[key] = KindCache(self.storage, kind, self.lag)
            if self.started:
                self._start(key)
            return
        cache = self.caches.pop(key, None)
        task = self.tasks.pop(key, None)
        if task is not None:
            task.cancel()
            self._retired.append(task)
        if cache is not None:
            cache.close_subscribers()

    def _start(self, key: tuple[str, str]) -> None:
        cache = self.caches[key]
        self.tasks[key] = asyncio.create_task(self._run(cache), name=f"watchcache-{cache.prefix}")

    async def _run(self, cache: KindCache) -> None:
        await self.tracker.started.wait()  # list after the tracker's start: fresh from the outset
        await cache.run()

    def start(self) -> None:
        self.started = True
        self._tracking = asyncio.create_task(self.tracker.run(), name="watchcache-revisions")
        for key in self.caches:
            self._start(key)

    async def fresh(self, kind: ResourceKind, timeout: float | None = None) -> KindCache | None:
        """The kind's cache once it reflects every write the store had acknowledged when this
        was called (upstream's consistent read from the watch cache); None when it did not get
        there within ``timeout`` (the caller reads the store)."""
        cache = await self.get(kind)
        revision = await self.storage.store.current_revision()
        if cache.revision >= revision:
            return cache
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.consistent_wait if timeout is None else timeout)
        if not await self.tracker.wait_for(revision, deadline - loop.time()):
            return None
        target = self.tracker.last_under(cache.prefix)
        if cache.revision >= target or await cache.wait_for(target, deadline - loop.time()):
            return cache
        return None

    async def stop(self) -> None:
        self.started = False
        tasks = [*self.tasks.values(), *self._retired, *filter(None, [self._tracking])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()
        self._retired.clear()
        self._tracking = None

    def end_watches(self) -> None:
        """Close every subscription, so open watch streams end cleanly (shutdown)."""
        for cache in self.caches.values():
            cache.end()

    async def get(self, kind: ResourceKind) -> KindCache:
        cache = self.caches.get((kind.group, kind.plural))
        if cache is None:  # unregistered after the request was routed
            raise StatusError(404, "NotFound", "the server could not find the requested resource")
        if not cache.ready.is_set():
            try:
                await asyncio.wait_for(cache.ready.wait(), 30)
            except TimeoutError:
                raise StatusError(503, "ServiceUnavailable",
                               f"the watch cache of {kind.plural} is not ready") from None
        return cache

    def peek(self, kind: ResourceKind) -> KindCache:
        return self.caches[(kind.group, kind.plural)]
