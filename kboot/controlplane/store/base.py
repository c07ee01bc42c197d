"""The storage contract every backend satisfies.

Revisions are one global, strictly increasing counter (etcd's ``mod_revision``); the apiserver
uses a key's ``mod_revision`` as the object's ``resourceVersion`` and the list's header revision
as the list's. Writes are compare-and-swap on ``mod_revision`` (the three Txn shapes kube-apiserver
uses). Watches deliver every change after ``from_revision`` in order, with the previous value, or
raise :class:`Compacted` when that history is gone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

from kboot.controlplane.errors import ControlPlaneError


class StoreError(ControlPlaneError):
    """Base of storage errors."""


class KeyExists(StoreError):
    """create() of a key that exists."""


class PrefixNotEmpty(StoreError):
    """create(..., absent=prefix) while a key exists under ``prefix``."""


class KeyNotFound(StoreError):
    """update()/delete() of a key that does not exist."""


class RevisionConflict(StoreError):
    """The key's mod_revision is not the expected one; ``current`` is the live value, if any."""

    def __init__(self, key: str, current: KeyValue | None) -> None:
        super().__init__(key)
        self.key = key
        self.current = current


class StoreUnavailable(StoreError):
    """The backend cannot be reached (every etcd endpoint down, database file unusable)."""


class Compacted(StoreError):
    """The requested revision is older than the compacted history."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"too old resource version: {requested} ({compacted})")
        self.requested = requested
        self.compacted = compacted


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    lease: int = 0


@dataclass(frozen=True)
class ListResult:
    items: list[KeyValue]
    revision: int  # the store revision the list was read at
    more: bool  # True when ``limit`` cut the result short


@dataclass(frozen=True)
class WatchEvent:
    type: Literal["PUT", "DELETE"]
    kv: KeyValue  # for DELETE: key, empty value, mod_revision = the delete's revision
    prev_kv: KeyValue | None


class Store(Protocol):
    async def get(self, key: str) -> KeyValue | None: ...

    async def list(
        self, prefix: str, *, revision: int = 0, limit: int = 0, start_after: str = ""
    ) -> ListResult:
        """Keys under ``prefix`` in key order, after ``start_after``, at ``revision`` (0 = now)."""
        ...

    async def count(self, prefix: str) -> int: ...

    async def create(self, key: str, value: bytes, *, ttl: int | None = None,
                     absent: str | None = None) -> int:
        """Create ``key``; return its mod_revision. Raises KeyExists. ``ttl`` attaches a lease.
        ``absent``: only while no key exists under that prefix, checked in the same atomic
        write (PrefixNotEmpty otherwise; KeyExists wins when both fail)."""
        ...

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        """Replace ``key`` if its mod_revision equals ``expected_revision``; return the new one.

        Raises KeyNotFound or RevisionConflict.
        """
        ...

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        """Delete ``key`` (if ``expected_revision`` matches, when given); return the deleted value
        with ``mod_revision`` set to the delete's revision. Raises KeyNotFound or RevisionConflict.
        """
        ...

    def watch(self, prefix: str, *, from_revision: int) -> AsyncIterator[WatchEvent]:
        """Every change under ``prefix`` with revision > ``from_revision``, in order, forever.

        Raises Compacted (on first iteration) when ``from_revision`` is older than the history.
        """
        ...

    async def current_revision(self) -> int: ...

    async def compact(self, revision: int) -> None: ...

    async def close(self) -> None: ...
