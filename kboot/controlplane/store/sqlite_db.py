"""The SQLite backend's data: kine's one append-only table, used from one thread.

Every write appends a row whose ``id`` is the new revision, so the table *is* the event log:
a watch reads rows after its revision, a read at an old revision takes each key's newest row at or
below it, and compaction deletes the rows that a newer row (at or below the compaction point) has
superseded. A row carries its predecessor's value, revision and lease, so an event's ``prev_kv``
needs no join and survives the compaction of the row it came from.

This class is synchronous and not thread-safe: :class:`kboot.controlplane.store.sqlite.SqliteStore`
owns the one thread that calls it, which also makes every check-then-insert atomic. One process
owns the file (revisions are counted in memory): a second opener fails on ``<path>-lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from kboot.controlplane.store.base import (
    Compacted,
    KeyExists,
    KeyNotFound,
    KeyValue,
    PrefixNotEmpty,
    RevisionConflict,
    StoreError,
    WatchEvent,
)
from kboot.controlplane.store.keys import prefix_end, range_start

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    id INTEGER PRIMARY KEY,            -- the revision this row was written at
    name TEXT NOT NULL,
    created INTEGER NOT NULL,          -- 1: this row created the key (no prev_kv)
    deleted INTEGER NOT NULL,          -- 1: a tombstone
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,    -- mod_revision of the row this one supersedes, 0 = none
    lease INTEGER NOT NULL,
    expires REAL,                      -- unix time the key's lease ends; NULL = no TTL
    value BLOB NOT NULL,
    old_value BLOB                     -- the superseded row's value (prev_kv)
);
CREATE INDEX IF NOT EXISTS kv_name_id ON kv (name, id);
CREATE INDEX IF NOT EXISTS kv_prev_revision ON kv (prev_revision);
CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
COLUMNS = "id, name, created, deleted, create_revision, prev_revision, lease, expires, value, " \
    "old_value"  # fmt: skip
Row = tuple[Any, ...]
LATEST = "id = (SELECT MAX(id) FROM kv AS newer WHERE newer.name = kv.name)"


def _kv(row: Row) -> KeyValue:
    return KeyValue(row[1], bytes(row[8]), row[4], row[0], row[6])


def _event(row: Row) -> WatchEvent:
    rev, name, created, deleted, create_rev, prev_rev, lease = row[:7]
    prev = None if created else KeyValue(name, bytes(row[9] or b""), create_rev, prev_rev, lease)
    if deleted:
        return WatchEvent("DELETE", KeyValue(name, b"", 0, rev), prev)
    return WatchEvent("PUT", _kv(row), prev)


def _name_range(prefix: str, start: str) -> tuple[str, list[Any]]:
    end = prefix_end(prefix)
    if end:
        return "name >= ? AND name < ?", [start, end]
    return "name >= ?", [start]


class SqliteDb:
    def __init__(self, path: str, *, sync: str = "normal") -> None:
        if sync not in ("normal", "full"):
            raise ValueError(f"sqlite sync must be normal or full, not {sync!r}")
        self._lock_fd = os.open(f"{path}-lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise StoreError(f"{path} is in use by another process") from None
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={sync.upper()}")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(SCHEMA)
        self.revision = int(self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM kv").fetchone()[0])
        found = self._conn.execute("SELECT value FROM meta WHERE name = 'compact_rev'").fetchone()
        self.compacted = int(found[0]) if found else 0

    def close(self) -> None:
        self._conn.close()
        os.close(self._lock_fd)  # releases the flock

    # -- reads ---------------------------------------------------------------------------------

    def _latest(self, key: str) -> Row | None:
        sql = f"SELECT {COLUMNS} FROM kv WHERE name = ? ORDER BY id DESC LIMIT 1"
        row: Row | None = self._conn.execute(sql, (key,)).fetchone()
        return None if row is None or row[3] else row

    def get(self, key: str) -> KeyValue | None:
        row = self._latest(key)
        return _kv(row) if row else None

    def _check_revision(self, revision: int) -> None:
        if revision > self.revision:
            raise StoreError(f"revision {revision} is in the future (current {self.revision})")
        if revision < self.compacted:
            raise Compacted(revision, self.compacted)

    def list_keys(self, prefix: str, revision: int, limit: int, start_after: str) -> list[KeyValue]:
        """Live keys at ``revision`` (0 = now); ``limit + 1`` rows so the caller sees ``more``."""
        revision = revision or self.revision
        self._check_revision(revision)
        where, args = _name_range(prefix, range_start(prefix, start_after))
        sql = (
            f"SELECT {COLUMNS} FROM kv WHERE id IN (SELECT MAX(id) FROM kv WHERE {where}"
            " AND id <= ? GROUP BY name) AND deleted = 0 ORDER BY name"
        )
        args.append(revision)
        if limit:
            sql += " LIMIT ?"
            args.append(limit + 1)
        return [_kv(row) for row in self._conn.execute(sql, args)]

    def count(self, prefix: str) -> int:
        where, args = _name_range(prefix, prefix)
        sql = (
            f"SELECT COUNT(*) FROM kv WHERE id IN (SELECT MAX(id) FROM kv WHERE {where}"
            " GROUP BY name) AND deleted = 0"
        )
        return int(self._conn.execute(sql, args).fetchone()[0])

    def history(self, prefix: str, after: int, limit: int) -> list[WatchEvent]:
        if after + 1 < self.compacted:
            raise Compacted(after, self.compacted)
        where, args = _name_range(prefix, prefix)
        sql = f"SELECT {COLUMNS} FROM kv WHERE id > ? AND {where} ORDER BY id LIMIT ?"
        return [_event(row) for row in self._conn.execute(sql, [after, *args, limit])]

    # -- writes --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _append(self, rows: Sequence[Row]) -> list[WatchEvent]:
        """Insert rows (ids already assigned) in one transaction; return their events."""
        with self._transaction():
            self._conn.executemany(f"INSERT INTO kv ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        self.revision = rows[-1][0]
        return [_event(row) for row in rows]

    def create(self, key: str, value: bytes, ttl: int | None, now: float, *,
               absent: str | None = None) -> WatchEvent:
        prev = self._conn.execute(
            "SELECT id, deleted FROM kv WHERE name = ? ORDER BY id DESC LIMIT 1", (key,)
        ).fetchone()
        if prev is not None and not prev[1]:
            raise KeyExists(key)
        if absent is not None and self.count(absent):
            raise PrefixNotEmpty(absent)
        rev = self.revision + 1
        lease, expires = (rev, now + ttl) if ttl else (0, None)
        row = (rev, key, 1, 0, rev, prev[0] if prev else 0, lease, expires, value, None)
        return self._append([row])[0]

    def _checked(self, key: str, expected_revision: int) -> Row:
        row = self._latest(key)
        if row is None:
            raise KeyNotFound(key)
        if expected_revision and row[0] != expected_revision:
            raise RevisionConflict(key, _kv(row))
        return row

    def update(self, key: str, value: bytes, expected_revision: int) -> WatchEvent:
        old = self._checked(key, expected_revision)
        row = (self.revision + 1, key, 0, 0, old[4], old[0], old[6], old[7], value, old[8])
        return self._append([row])[0]

    @staticmethod
    def _tombstone(rev: int, old: Row) -> Row:
        return (rev, old[1], 0, 1, old[4], old[0], old[6], None, b"", old[8])

    def delete(self, key: str, expected_revision: int) -> WatchEvent:
        old = self._checked(key, expected_revision)
        return self._append([self._tombstone(self.revision + 1, old)])[0]

    def expire(self, now: float) -> list[WatchEvent]:
        """Delete every live key whose lease has ended; one revision per key, as etcd does."""
        sql = (
            f"SELECT {COLUMNS} FROM kv WHERE expires IS NOT NULL AND expires <= ?"
            f" AND deleted = 0 AND {LATEST} ORDER BY id"
        )
        expired = self._conn.execute(sql, (now,)).fetchall()
        if not expired:
            return []
        rows = [self._tombstone(self.revision + 1 + i, old) for i, old in enumerate(expired)]
        return self._append(rows)

    def compact(self, revision: int) -> None:
        if revision > self.revision:
            raise StoreError(f"cannot compact to future revision {revision} ({self.revision})")
        if revision <= self.compacted:
            return
        with self._transaction():
            self._conn.execute(
                "DELETE FROM kv WHERE id < :rev AND (deleted = 1 OR id IN"
                " (SELECT prev_revision FROM kv WHERE id <= :rev))",
                {"rev": revision},
            )
            self._conn.execute(
                "INSERT INTO meta (name, value) VALUES ('compact_rev', ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (revision,),
            )
        self.compacted = revision
