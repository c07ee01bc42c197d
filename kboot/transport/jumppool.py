"""Jump-host connections shared by every host behind them.

Fifty hosts behind one bastion must not mean fifty SSH logins to it (OpenSSH's ``MaxStartups``
starts refusing at ten concurrent unauthenticated connections): the first host to need a hop
connects it, the others reuse it and open their own ``direct-tcpip`` channels on it. Entries are
reference-counted and closed with their last user; a dead entry is replaced on next use. One
connection per key is made at a time (a lock per key), so a burst of hosts waits for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import paramiko


@dataclass
class _Entry:
    client: paramiko.SSHClient
    refs: int = 0


def _alive(client: paramiko.SSHClient) -> bool:
    t = client.get_transport()
    return t is not None and t.is_active()


class JumpPool:
    """Shared jump-host clients keyed by the whole route up to that hop (and its settings)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._entries: dict[Hashable, _Entry] = {}

    def acquire(self, key: Hashable, connect: Callable[[], paramiko.SSHClient]
                ) -> paramiko.SSHClient:
        """The live client for ``key`` (connecting it if needed); pair with :meth:`release`."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                entry = self._entries.get(key)
            if entry is None or not _alive(entry.client):
                new = _Entry(connect(), refs=entry.refs if entry is not None else 0)
                if entry is not None:
                    entry.client.close()
                entry = new
            with self._guard:
                entry.refs += 1
                self._entries[key] = entry
            return entry.client

    def release(self, key: Hashable) -> None:
        with self._guard:
            entry = self._entries.get(key)
            if entry is None:
                return
            entry.refs -= 1
            if entry.refs > 0:
                return
            del self._entries[key]
        entry.client.close()

    def __len__(self) -> int:
        with self._guard:
            return len(self._entries)


POOL = JumpPool()
