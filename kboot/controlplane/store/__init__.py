"""A small revisioned key-value store (kine's shape) with an etcd and an SQLite backend.

``open_store("etcd://…")`` is the distributed engine for HA; ``open_store("sqlite:///…")`` the
embedded single-node default; ``open_store("memory://")`` serves unit tests. One contract suite
(tests/unit/store, tests/integration/store) runs against every backend.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from kboot.controlplane.store.base import (
    Compacted,
    KeyExists,
    KeyNotFound,
    KeyValue,
    ListResult,
    PrefixNotEmpty,
    RevisionConflict,
    Store,
    StoreError,
    StoreUnavailable,
    WatchEvent,
)

__all__ = [
    "Compacted",
    "KeyExists",
    "KeyNotFound",
    "KeyValue",
    "ListResult",
    "PrefixNotEmpty",
    "RevisionConflict",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "WatchEvent",
    "open_store",
]


def open_store(url: str) -> Store:
    """Open the backend a URL names. Forms:

    - ``memory://`` — in-process dict + event log (unit tests; nothing persists);
    - ``sqlite:///abs/path/kboot.db[?sync=normal|full]`` — the embedded single-node default
      (WAL mode; ``sync=full`` fsyncs every commit, ``normal``, the default, survives process
      crashes but may lose the last commits on power loss);
    - ``etcd://host:port[,host:port…]?cacert=/ca.crt&cert=/client.crt&key=/client.key`` — the
      distributed engine over gRPC with TLS client certificates; several endpoints fail over in
      order. Omitting all three TLS parameters gives plaintext gRPC (only for a loopback etcd);
      optional ``timeout=<seconds>`` bounds each unary call (default 10).

    Connections are made lazily by the first operation, so this never blocks.
    """
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if parts.scheme == "memory":
        from kboot.controlplane.store.memory import MemoryStore

        return MemoryStore()
    if parts.scheme == "sqlite":
        from kboot.controlplane.store.sqlite import SqliteStore

        if not parts.path.startswith("/") or parts.netloc:
            raise ValueError(f"sqlite URL needs an absolute path: sqlite:///abs/path.db, not {url}")
        return SqliteStore(parts.path, sync=query.get("sync", "normal"))
    if parts.scheme == "etcd":
        from kboot.controlplane.store.etcd import EtcdStore, parse_endpoints

        return EtcdStore(
            parse_endpoints(parts.netloc),
            cacert=query.get("cacert"),
            cert=query.get("cert"),
            key=query.get("key"),
            timeout=float(query.get("timeout", "10")),
        )
    raise ValueError(f"unknown store URL scheme {parts.scheme!r} in {url!r}")
