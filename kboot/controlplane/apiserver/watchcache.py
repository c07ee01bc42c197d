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
from collections.abc import Callable
from dataclasses import dataclass, field

from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.apiserver.errors import JsonObj, StatusError, gone_too_old
from kboot.controlplane.apiserver.fanout import Fanout, IndexSpec, Subscriber
from kboot.controlplane.apiserver.storage import ObjectStorage, collection_prefix
from kboot.controlplane.apiserver.strategy import Strategy
from kboot.controlplane.store.base import Compacted, WatchEvent

log = logging.getLogger(__name__)

BUFFER_EVENTS = 5000


def _encode(obj: JsonObj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def event_line(event_type: str, body: bytes) -> bytes:
    """One watch line from an already serialised object."""
    return b'{"type":"' + event_type.encode() + b'","object":' + body + b"}\n"


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


class KindCache:
    """Current objects and recent events of one resource type."""

    def __init__(self, storage: ObjectStorage, kind: ResourceKind) -> None:
        self.storage = storage
        self.kind = kind
        self.prefix = collection_prefix(kind, None)
        self.objects: dict[str, JsonObj] = {}
        self.encoded: dict[str, bytes] = {}  # serialised objects, filled on demand
        self.revision = 0
        self.oldest = 0  # buffered events cover revisions (oldest, revision]
        self.events: collections.deque[CacheEvent] = collections.deque(maxlen=BUFFER_EVENTS)
        self.subscribers = Fanout()
        self.ready = asyncio.Event()
        # (revision, tie-break, future) of wait_for callers; a heap, so an applied event checks
        # only the smallest one
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._tickets = itertools.count()
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
        self._release()

    def close_subscribers(self) -> None:
        self.subscribers.close_all()

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
        self._release()

    def _release(self) -> None:
        """Wake the wait_for callers whose revision the cache has reached."""
        waiters = self._waiters
        while waiters and waiters[0][0] <= self.revision:
            future = heapq.heappop(waiters)[2]
            if not future.done():
                future.set_result(None)

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
        if self.revision >= revision:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (revision, next(self._tickets), future))
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return False
        return True


class WatchCaches:
    """One cache per served kind, started together; ``get`` waits until a cache has listed.

    The caches follow the storage's kind registry: a kind registered while the server runs
    gets a cache (started at once when the others run), an unregistered one loses it (its
    watch streams end)."""

    def __init__(self, storage: ObjectStorage) -> None:
        self.storage = storage
        self.caches = {(k.group, k.plural): KindCache(storage, k) for k in storage.kinds.kinds()}
        self.tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.started = False
        self._retired: list[asyncio.Task[None]] = []  # caches of unregistered kinds, ending
        self._unsubscribe = storage.kinds.subscribe(self._kinds_changed)

    def _kinds_changed(self, change: str, strategy: Strategy) -> None:
        kind = strategy.kind
        key = (kind.group, kind.plural)
        if change == "added":
            self.caches[key] = KindCache(self.storage, kind)
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
        self.tasks[key] = asyncio.create_task(cache.run(), name=f"watchcache-{cache.prefix}")

    def start(self) -> None:
        self.started = True
        for key in self.caches:
            self._start(key)

    async def stop(self) -> None:
        self.started = False
        tasks = [*self.tasks.values(), *self._retired]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()
        self._retired.clear()

    def end_watches(self) -> None:
        """Close every subscription, so open watch streams end cleanly (shutdown)."""
        for cache in self.caches.values():
            cache.close_subscribers()

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
