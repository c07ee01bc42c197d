"""The SQLite backend: the embedded single-node default, kine's design in one process.

One dedicated thread owns the connection (:class:`~kboot.controlplane.store.sqlite_db.SqliteDb`),
so writes are serialized without locks and the event loop never blocks on disk. A committed
write's events are handed to the loop (``call_soon_threadsafe``, in commit order) before the
writer's own call returns, and fanned out to watches by the in-process
:class:`~kboot.controlplane.store.broadcast.Hub` — no polling. A reaper task deletes keys whose
TTL has passed, producing ordinary DELETE events. The database is in WAL mode so readers of the
file (backups, ``sqlite3`` for debugging) do not block the apiserver.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar

from kboot.controlplane.store.base import KeyValue, ListResult, WatchEvent
from kboot.controlplane.store.broadcast import Hub
from kboot.controlplane.store.sqlite_db import SqliteDb

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How often the reaper looks for expired TTL keys (expiry is at most this late).
REAP_INTERVAL = 0.5


class SqliteStore:
    """A :class:`~kboot.controlplane.store.base.Store` in one SQLite file."""

    def __init__(self, path: str, *, sync: str = "normal") -> None:
        self._path = path
        self._sync = sync
        self._db: SqliteDb | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kboot-sqlite")
        self._hub = Hub()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reaper: asyncio.Task[None] | None = None

    async def _run(self, fn: Callable[[SqliteDb], T]) -> T:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or reused from a new event loop
            self._loop = loop
            self._reaper = loop.create_task(self._reap())
        return await loop.run_in_executor(self._executor, self._in_thread, fn)

    def _in_thread(self, fn: Callable[[SqliteDb], T]) -> T:
        if self._db is None:
            self._db = SqliteDb(self._path, sync=self._sync)
        return fn(self._db)

    def _publish(self, events: Sequence[WatchEvent]) -> None:
        """Called in the database thread right after a commit."""
        if events and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._hub.publish, list(events))
            except RuntimeError:  # that loop is closed: nobody is left to watch on it
                log.debug("event loop closed; %d events not broadcast", len(events))

    async def _write(self, fn: Callable[[SqliteDb], list[WatchEvent]]) -> list[WatchEvent]:
        def write(db: SqliteDb) -> list[WatchEvent]:
            events = fn(db)
            self._publish(events)
            return events

        return await self._run(write)

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, key: str) -> KeyValue | None:
        return await self._run(lambda db: db.get(key))

    async def list(
        self, prefix: str, *, revision: int = 0, limit: int = 0, start_after: str = ""
    ) -> ListResult:
        def read(db: SqliteDb) -> ListResult:
            items = db.list_keys(prefix, revision, limit, start_after)
            more = bool(limit) and len(items) > limit
            return ListResult(items[:limit] if more else items, revision or db.revision, more)

        return await self._run(read)

    async def count(self, prefix: str) -> int:
        return await self._run(lambda db: db.count(prefix))

    async def current_revision(self) -> int:
        return await self._run(lambda db: db.revision)

    # -- writes --------------------------------------------------------------------------------

    async def create(self, key: str, value: bytes, *, ttl: int | None = None,
                     absent: str | None = None) -> int:
        events = await self._write(
            lambda db: [db.create(key, value, ttl, time.time(), absent=absent)])
        return events[0].kv.mod_revision

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        events = await self._write(lambda db: [db.update(key, value, expected_revision)])
        return events[0].kv.mod_revision

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        events = await self._write(lambda db: [db.delete(key, expected_revision)])
        old = events[0].prev_kv
        assert old is not None
        rev = events[0].kv.mod_revision
        return KeyValue(old.key, old.value, old.create_revision, rev, old.lease)

    async def compact(self, revision: int) -> None:
        await self._run(lambda db: db.compact(revision))

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            try:
                events = await self._write(lambda db: db.expire(time.time()))
            except Exception:  # keep reaping; the next round retries
                log.exception("expiring TTL keys in %s failed", self._path)
                continue
            if events:
                log.debug("expired %d TTL keys", len(events))

    # -- watch ---------------------------------------------------------------------------------

    def watch(self, prefix: str, *, from_revision: int) -> AsyncIterator[WatchEvent]:
        async def history(prefix: str, after: int, limit: int) -> Sequence[WatchEvent]:
            return await self._run(lambda db: db.history(prefix, after, limit))

        return self._hub.watch(prefix, from_revision, history)

    async def close(self) -> None:
        reaper, self._reaper = self._reaper, None
        if reaper is not None and reaper.get_loop() is asyncio.get_running_loop():
            reaper.cancel()
            await asyncio.gather(reaper, return_exceptions=True)
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.get_running_loop().run_in_executor(self._executor, db.close)
        self._executor.shutdown(wait=False)
