"""Informers: a list+watch cache of one resource, with event handlers and indexes.

An informer lists (paginated), then watches from the list's resourceVersion; bookmarks keep
that version fresh. ``Expired`` means history is gone: relist and diff the cache, emitting the
adds, updates and deletes that were missed. Other failures reconnect with backoff. Handlers
run synchronously in the informer's task and must only enqueue keys. ``Informers`` shares
one informer per (resource, namespace, selectors) between controllers.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from kboot.controlplane.client.api import ApiClient, Obj, Ref, WatchEvent, resolve
from kboot.controlplane.client.clock import REAL_CLOCK, Clock
from kboot.controlplane.client.errors import Expired
from kboot.controlplane.client.meta import key_of

log = logging.getLogger(__name__)

IndexFunc = Callable[[Obj], list[str]]
OnAdd = Callable[[Obj], None]
OnUpdate = Callable[[Obj, Obj], None]
OnDelete = Callable[[Obj], None]


def by_namespace(obj: Obj) -> list[str]:
    ns = (obj.get("metadata") or {}).get("namespace")
    return [ns] if ns else []


def by_node_name(obj: Obj) -> list[str]:
    node = (obj.get("spec") or {}).get("nodeName")
    return [node] if node else []


def by_owner_uid(obj: Obj) -> list[str]:
    return [r["uid"] for r in (obj.get("metadata") or {}).get("ownerReferences") or []]


DEFAULT_INDEXERS: dict[str, IndexFunc] = {
    "namespace": by_namespace, "nodeName": by_node_name, "owner": by_owner_uid,
}


@dataclass(frozen=True)
class Handlers:
    on_add: OnAdd | None = None
    on_update: OnUpdate | None = None
    on_delete: OnDelete | None = None


@dataclass
class _Index:
    fn: IndexFunc
    values: dict[str, set[str]] = field(default_factory=dict)


class Informer:
    def __init__(self, client: ApiClient, ref: Ref, *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 resync_period: float | None = None,
                 indexers: dict[str, IndexFunc] | None = None,
                 clock: Clock = REAL_CLOCK) -> None:
        self.client, self.kind, self.clock = client, resolve(ref), clock
        self.namespace, self.label_selector = namespace, label_selector
        self.field_selector, self.resync_period = field_selector, resync_period
        self.cache: dict[str, Obj] = {}
        self.resource_version = ""
        self._handlers: list[Handlers] = []
        self._indexes = {n: _Index(f) for n, f in (indexers or DEFAULT_INDEXERS).items()}
        self._synced = asyncio.Event()

    # -- reading ----------------------------------------------------------------------------

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    def get(self, key: str) -> Obj | None:
        return self.cache.get(key)

    def objects(self) -> list[Obj]:
        return list(self.cache.values())

    def by_index(self, index: str, value: str) -> list[Obj]:
        keys = self._indexes[index].values.get(value, set())
        return [self.cache[k] for k in keys if k in self.cache]

    def add_handlers(self, handlers: Handlers) -> None:
        """Register handlers; objects already cached are replayed as adds."""
        self._handlers.append(handlers)
        if handlers.on_add:
            for obj in list(self.cache.values()):
                handlers.on_add(obj)

    # -- cache maintenance ------------------------------------------------------------------

    def _index(self, key: str, old: Obj | None, new: Obj | None) -> None:
        for idx in self._indexes.values():
            for value in idx.fn(old) if old else []:
                idx.values.get(value, set()).discard(key)
            for value in idx.fn(new) if new else []:
                idx.values.setdefault(value, set()).add(key)

    def _dispatch(self, etype: str, obj: Obj, old: Obj | None) -> None:
        for h in self._handlers:
            try:
                if etype == "ADDED" and h.on_add:
                    h.on_add(obj)
                elif etype == "MODIFIED" and h.on_update:
                    h.on_update(old or obj, obj)
                elif etype == "DELETED" and h.on_delete:
                    h.on_delete(obj)
            except Exception:
                log.exception("informer %s: handler failed", self.kind.plural)

    def apply(self, event: WatchEvent) -> None:
        """Fold one watch event into the cache and tell the handlers."""
        obj = event.object
        obj.setdefault("apiVersion", self.kind.api_version)  # list items may omit them
        obj.setdefault("kind", self.kind.kind)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.resource_version = rv
        if event.type == "BOOKMARK":
            return
        key = key_of(obj)
        old = self.cache.get(key)
        if event.type == "DELETED":
            self.cache.pop(key, None)
            self._index(key, old, None)
            self._dispatch("DELETED", obj, old)
            return
        self.cache[key] = obj
        self._index(key, old, obj)
        self._dispatch("ADDED" if old is None else "MODIFIED", obj, old)

    async def _relist(self) -> None:
        items: dict[str, Obj] = {}
        token: str | None = None
        rv = ""
        while True:
            page = await self.client.list(self.kind, namespace=self.namespace,
                                          label_selector=self.label_selector,
                                          field_selector=self.field_selector,
                                          limit=500, continue_=token)
            rv = rv or str(page["metadata"].get("resourceVersion", ""))
            items.update((key_of(o), o) for o in page.get("items") or [])
            token = page["metadata"].get("continue")
            if not token:
                break
        for key in [k for k in self.cache if k not in items]:
            self.apply(WatchEvent("DELETED", self.cache[key]))
        for obj in items.values():
            old = self.cache.get(key_of(obj))
            if old is None or old.get("metadata", {}).get("resourceVersion") != \
                    obj["metadata"].get("resourceVersion"):
                self.apply(WatchEvent("MODIFIED" if old else "ADDED", obj))
        self.resource_version = rv
        self._synced.set()

    async def _watch_once(self) -> None:
        stream = self.client.watch(self.kind, namespace=self.namespace,
                                   label_selector=self.label_selector,
                                   field_selector=self.field_selector,
                                   resource_version=self.resource_version,
                                   timeout_seconds=random.randint(300, 600))
        async for event in stream:
            self.apply(event)

    async def _resync(self) -> None:
        while self.resync_period:
            await self.clock.sleep(self.resync_period)
            for obj in list(self.cache.values()):
                self._dispatch("MODIFIED", obj, obj)

    async def run(self) -> None:
        """List, then watch forever; relist on Expired, reconnect with backoff on errors."""
        resync = asyncio.create_task(self._resync())
        delay, need_list = 0.2, True
        try:
            while True:
                try:
                    if need_list:
                        await self._relist()
                        need_list = False
                    await self._watch_once()
                    delay = 0.2
                except asyncio.CancelledError:
                    raise
                except Expired:
                    need_list = True
                except Exception as exc:
                    log.warning("informer %s: %s; retrying in %.1fs", self.kind.plural, exc,
                                delay)
                    await self.clock.sleep(delay)
                    delay = min(delay * 2, 10.0)
        finally:
            resync.cancel()


class Informers:
    """One shared informer per (resource, namespace, selectors); start them all, wait for sync."""

    def __init__(self, client: ApiClient, *, resync_period: float | None = None,
                 clock: Clock = REAL_CLOCK) -> None:
        self.client, self.clock = client, clock
        self.resync_period = resync_period
        self._informers: dict[tuple[str, str | None, str | None, str | None], Informer] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def get(self, ref: Ref, *, namespace: str | None = None, label_selector: str | None = None,
            field_selector: str | None = None) -> Informer:
        key = (resolve(ref).plural, namespace, label_selector, field_selector)
        if key not in self._informers:
            self._informers[key] = Informer(
                self.client, ref, namespace=namespace, label_selector=label_selector,
                field_selector=field_selector, resync_period=self.resync_period,
                clock=self.clock)
            if self._tasks:  # already started: start late joiners too
                self._tasks.append(asyncio.create_task(self._informers[key].run()))
        return self._informers[key]

    def start(self) -> None:
        self._tasks = [asyncio.create_task(i.run()) for i in self._informers.values()]

    async def wait_synced(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(
            asyncio.gather(*(i.wait_synced() for i in self._informers.values())), timeout)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
