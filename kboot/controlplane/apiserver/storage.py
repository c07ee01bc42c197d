"""API objects over the revisioned key-value store: keys, encoding, encryption, resourceVersion.

This is the one place that knows how an object becomes bytes under ``/registry/…`` (reference
§14): JSON without ``metadata.resourceVersion`` (the store's ``mod_revision`` *is* the
resourceVersion, filled in on read), encryption at rest by an :class:`Encryptor` and TTL leases
as each kind's strategy asks (:class:`~.strategy.StorageOptions`: Secrets are sealed, Events
expire), and the 1.5 MiB object limit. Store errors become API errors here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.apiserver.errors import (
    JsonObj,
    StatusError,
    already_exists,
    conflict,
    gone_too_old,
    not_found,
)
from kboot.controlplane.apiserver.kinds import KindRegistry
from kboot.controlplane.store.base import (
    Compacted,
    KeyExists,
    KeyNotFound,
    KeyValue,
    RevisionConflict,
    Store,
)

MAX_OBJECT_BYTES = 1536 * 1024


class Encryptor(Protocol):
    """Seals values; ``context`` (the storage key) is authenticated so values cannot be swapped."""

    def encrypt(self, data: bytes, *, context: bytes = b"") -> bytes: ...

    def decrypt(self, data: bytes, *, context: bytes = b"") -> bytes: ...


@dataclass(frozen=True)
class ListPage:
    items: list[JsonObj]
    revision: int
    more: bool
    last_key: str


def object_key(kind: ResourceKind, obj: JsonObj) -> str:
    meta = obj.get("metadata") or {}
    return kind.key(meta.get("namespace"), meta.get("name", ""))


def collection_prefix(kind: ResourceKind, namespace: str | None) -> str:
    if kind.namespaced and namespace:
        return f"{kind.storage_prefix}{namespace}/"
    return kind.storage_prefix


class ObjectStorage:
    """Typed access to API objects; every method returns objects with resourceVersion set.

    ``kinds`` is the registry of served kinds and their strategies (the built-in one unless
    given). It lives here because every writer — handlers, startup defaults, guarded updates —
    holds the storage, and a kind's storage options (encryption, TTL) are read on each write.
    """

    def __init__(self, store: Store, *, encryptor: Encryptor | None = None,
                 kinds: KindRegistry | None = None) -> None:
        self.store = store
        self.encryptor = encryptor
        self.kinds = kinds if kinds is not None else KindRegistry.builtin()
        # told the revision of every write this storage made (the watch caches time their lag)
        self.on_written: Callable[[int], None] | None = None

    def _written(self, revision: int) -> None:
        if self.on_written is not None:
            self.on_written(revision)

    def _encrypted(self, kind: ResourceKind) -> bool:
        return self.encryptor is not None and self.kinds.storage_options(kind).encrypted

    def encode(self, kind: ResourceKind, obj: JsonObj) -> bytes:
        stored_as = self.kinds.storage_options(kind).stored_as
        if stored_as is not None:
            obj = stored_as.to_storage(obj)
        meta = dict(obj.get("metadata") or {})
        meta.pop("resourceVersion", None)
        data = json.dumps({**obj, "metadata": meta}, separators=(",", ":")).encode()
        if len(data) > MAX_OBJECT_BYTES:
            raise StatusError(413, "RequestEntityTooLarge",
                           f"Request entity too large: object is {len(data)} bytes, "
                           f"limit is {MAX_OBJECT_BYTES}")
        if self._encrypted(kind) and self.encryptor is not None:
            return self.encryptor.encrypt(data, context=object_key(kind, obj).encode())
        return data

    def decode_value(self, value: bytes, revision: int, key: str = "") -> JsonObj:
        if value[:1] != b"{" and self.encryptor is not None:
            value = self.encryptor.decrypt(value, context=key.encode())
        obj: JsonObj = json.loads(value)
        obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
        return obj

    def decode(self, kv: KeyValue) -> JsonObj:
        return self.decode_value(kv.value, kv.mod_revision, kv.key)

    def decode_as(self, kind: ResourceKind, kv: KeyValue) -> JsonObj:
        """A stored object in ``kind``'s representation (see ``StorageOptions.stored_as``)."""
        obj = self.decode(kv)
        stored_as = self.kinds.storage_options(kind).stored_as
        return stored_as.from_storage(obj) if stored_as is not None else obj

    async def get(self, kind: ResourceKind, namespace: str | None, name: str) -> JsonObj:
        kv = await self.store.get(kind.key(namespace, name))
        if kv is None:
            raise not_found(kind, name)
        return self.decode_as(kind, kv)

    async def create(self, kind: ResourceKind, obj: JsonObj, *, absent: str | None = None
                     ) -> JsonObj:
        """Store a new object; ``absent``: only while no key exists under that prefix (the
        store's PrefixNotEmpty propagates)."""
        data = self.encode(kind, obj)
        ttl = self.kinds.storage_options(kind).ttl_seconds
        name = obj["metadata"]["name"]
        try:
            rev = await self.store.create(object_key(kind, obj), data, ttl=ttl, absent=absent)
        except KeyExists:
            raise already_exists(kind, name) from None
        self._written(rev)
        return _with_rv(obj, rev)

    async def update(self, kind: ResourceKind, obj: JsonObj, *, expected: int) -> JsonObj:
        data = self.encode(kind, obj)
        name = obj["metadata"]["name"]
        try:
            rev = await self.store.update(object_key(kind, obj), data, expected_revision=expected)
        except KeyNotFound:
            raise not_found(kind, name) from None
        except RevisionConflict:
            raise conflict(kind, name) from None
        self._written(rev)
        return _with_rv(obj, rev)

    async def delete(self, kind: ResourceKind, obj: JsonObj, *, expected: int) -> JsonObj:
        name = obj["metadata"]["name"]
        try:
            kv = await self.store.delete(object_key(kind, obj), expected_revision=expected)
        except KeyNotFound:
            raise not_found(kind, name) from None
        except RevisionConflict:
            raise conflict(kind, name) from None
        self._written(kv.mod_revision)
        return _with_rv(obj, kv.mod_revision)

    async def list(self, kind: ResourceKind, namespace: str | None, *, revision: int = 0,
                   limit: int = 0, start_after: str = "") -> ListPage:
        prefix = collection_prefix(kind, namespace)
        if revision:
            current = await self.store.current_revision()
            if revision > current:
                raise too_large_revision(revision, current)
        try:
            result = await self.store.list(prefix, revision=revision, limit=limit,
                                           start_after=start_after)
        except Compacted as err:
            raise gone_too_old(err.requested, err.compacted) from None
        items = [self.decode_as(kind, kv) for kv in result.items]
        last = result.items[-1].key if result.items else start_after
        return ListPage(items, result.revision, result.more, last)


def too_large_revision(requested: int, current: int) -> StatusError:
    """Upstream's answer to a read at a revision the store has not reached (504, retryable)."""
    return StatusError(504, "Timeout", f"Too large resource version: {requested}, current: "
                    f"{current}", details={"causes": [{"reason": "ResourceVersionTooLarge",
                                                       "message": "Too large resource version"}],
                                           "retryAfterSeconds": 1},
                    headers={"Retry-After": "1"})


def _with_rv(obj: JsonObj, rev: int) -> JsonObj:
    meta = dict(obj.get("metadata") or {})
    meta["resourceVersion"] = str(rev)
    return {**obj, "metadata": meta}


def revision_of(obj: JsonObj) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0
