"""A small revisioned key-value store (kine's shape) with an etcd and an SQLite backend.

``open_store("etcd://…")`` is the distributed engine for HA; ``open_store("sqlite:///…")`` the
embedded single-node default; ``open_store("memory://")`` serves unit tests. One contract suite
(tests/unit/store, tests/integration/store) runs against every backend.
"""

from __future__ import annotations

from kboot.controlplane.store.base import (
    Compacted,
    KeyExists,
    KeyNotFound,
    KeyValue,
    ListResult,
    RevisionConflict,
    Store,
    StoreError,
    WatchEvent,
)

__all__ = [
    "Compacted",
    "KeyExists",
    "KeyNotFound",
    "KeyValue",
    "ListResult",
    "RevisionConflict",
    "Store",
    "StoreError",
    "WatchEvent",
]
