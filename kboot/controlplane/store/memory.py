"""The in-memory backend: a dict of live keys plus the event log since the last compaction.

For unit tests and for trying the apiserver without any storage. Every operation runs to
completion without awaiting in between, so on one event loop each write is atomic. Reads at an
old revision start from the live dict and undo the logged events newer than that revision. TTL
keys are deleted by a timer on the running loop, which logs a DELETE like any other.
"""

from __future__ import annotations

import asyncio
import bisect
import builtins
import logging
from collections.abc import AsyncIterator, Sequence

from kboot.controlplane.store.base import (
    Compacted,
    KeyExists,
    KeyNotFound,
    KeyValue,
    ListResult,
    PrefixNotEmpty,
    RevisionConflict,
    StoreError,
    WatchEvent,
)
from kboot.controlplane.store.broadcast import Hub

log = logging.getLogger(__name__)


class MemoryStore:
    """A :class:`~kboot.controlplane.store.base.Store` held in this process's memory."""

    def __init__(self) -> None:
        self._rev = 0
        self._compacted = 0
        self._data: dict[str, KeyValue] = {}
        self._log: list[WatchEvent] = []
        self._log_revs: list[int] = []
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._hub = Hub()

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, key: str) -> KeyValue | None:
        return self._data.get(key)

    async def list(
        self, prefix: str, *, revision: int = 0, limit: int = 0, start_after: str = ""
    ) -> ListResult:
        snapshot = self._snapshot(revision) if revision else self._data
        keys = sorted(k for k in snapshot if k.startswith(prefix) and k > start_after)
        more = bool(limit) and len(keys) > limit
        if more:
            keys = keys[:limit]
        return ListResult([snapshot[k] for k in keys], revision or self._rev, more)

    async def count(self, prefix: str) -> int:
        return sum(1 for k in self._data if k.startswith(prefix))

    async def current_revision(self) -> int:
        return self._rev

    def _snapshot(self, revision: int) -> dict[str, KeyValue]:
        if revision > self._rev:
            raise StoreError(f"revision {revision} is in the future (current {self._rev})")
        if revision < self._compacted:
            raise Compacted(revision, self._compacted)
        state = dict(self._data)
        start = bisect.bisect_right(self._log_revs, revision)
        for event in reversed(self._log[start:]):
            if event.prev_kv is None:
                state.pop(event.kv.key, None)
            else:
                state[event.kv.key] = event.prev_kv
        return state

    # -- writes --------------------------------------------------------------------------------

    async def create(self, key: str, value: bytes, *, ttl: int | None = None,
                     absent: str | None = None) -> int:
        if key in self._data:
            raise KeyExists(key)
        if absent is not None and any(k.startswith(absent) for k in self._data):
            raise PrefixNotEmpty(absent)
        rev = self._rev + 1
        lease = rev if ttl else 0
        self._commit(WatchEvent("PUT", KeyValue(key, value, rev, rev, lease), None))
        if ttl:
            loop = asyncio.get_running_loop()
            self._timers[key] = loop.call_later(ttl, self._expire, key, rev)
        return rev

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        current = self._checked(key, expected_revision)
        rev = self._rev + 1
        kv = KeyValue(key, value, current.create_revision, rev, current.lease)
        self._commit(WatchEvent("PUT", kv, current))
        return rev

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        current = self._checked(key, expected_revision)
        return self._delete(current)

    def _checked(self, key: str, expected_revision: int) -> KeyValue:
        current = self._data.get(key)
        if current is None:
            raise KeyNotFound(key)
        if expected_revision and current.mod_revision != expected_revision:
            raise RevisionConflict(key, current)
        return current

    def _delete(self, current: KeyValue) -> KeyValue:
        rev = self._rev + 1
        timer = self._timers.pop(current.key, None)
        if timer is not None:
            timer.cancel()
        self._commit(WatchEvent("DELETE", KeyValue(current.key, b"", 0, rev), current))
        return KeyValue(current.key, current.value, current.create_revision, rev, current.lease)

    def _expire(self, key: str, create_revision: int) -> None:
        self._timers.pop(key, None)
        current = self._data.get(key)
        if current is not None and current.create_revision == create_revision:
            log.debug("lease of %s expired", key)
            self._delete(current)

    def _commit(self, event: WatchEvent) -> None:
        self._rev = event.kv.mod_revision
        if event.type == "PUT":
            self._data[event.kv.key] = event.kv
        else:
            del self._data[event.kv.key]
        self._log.append(event)
        self._log_revs.append(self._rev)
        self._hub.publish([event])

    async def compact(self, revision: int) -> None:
        if revision > self._rev:
            raise StoreError(f"cannot compact to future revision {revision} ({self._rev})")
        if revision <= self._compacted:
            return
        keep = bisect.bisect_left(self._log_revs, revision)
        del self._log[:keep], self._log_revs[:keep]
        self._compacted = revision

    # -- watch ---------------------------------------------------------------------------------

    def watch(self, prefix: str, *, from_revision: int) -> AsyncIterator[WatchEvent]:
        return self._hub.watch(prefix, from_revision, self._history)

    async def _history(self, prefix: str, after: int, limit: int) -> Sequence[WatchEvent]:
        if after + 1 < self._compacted:
            raise Compacted(after, self._compacted)
        start = bisect.bisect_right(self._log_revs, after)
        found: builtins.list[WatchEvent] = []
        for event in self._log[start:]:
            if event.kv.key.startswith(prefix):
                found.append(event)
                if len(found) == limit:
                    break
        return found

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
