"""The etcd backend: the distributed engine behind an HA control plane.

Writes are the three transactions kube-apiserver uses (create if ``mod_revision == 0``, update and
delete if ``mod_revision == expected``, else read the live value), so a conflict costs one round
trip and returns the current object. Updates keep the key's lease (``ignore_lease``), as TTL'd
Events expect. TTL keys share leases granted within a short window, as upstream's lease manager
does, rather than granting one lease per Event. Watches are one gRPC stream each, with
``prev_kv``; a broken stream resumes from the last revision on the next endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from aetcd import rpc

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
from kboot.controlplane.store.etcd_channel import (
    FAILOVER_CODES,
    Channels,
    Endpoint,
    TlsFiles,
    map_error,
    parse_endpoints,
)
from kboot.controlplane.store.etcd_watch import StreamEnded, WatchMux, to_kv
from kboot.controlplane.store.keys import prefix_end, range_start

log = logging.getLogger(__name__)

__all__ = ["EtcdStore", "parse_endpoints"]

#: Upper bound on how long TTL'd keys may share one lease (upstream: 60 s, 5 % of the TTL).
LEASE_REUSE_MAX = 60
RESUBSCRIBE_DELAY = 0.5


_kv = to_kv


def _range_end(prefix: str) -> bytes:
    return prefix_end(prefix).encode() or b"\0"


class _Leases:
    """Grants leases, sharing one among keys with the same TTL created close together."""

    def __init__(self, channels: Channels) -> None:
        self._channels = channels
        self._cache: dict[int, tuple[int, float]] = {}
        self._lock = asyncio.Lock()

    async def lease_for(self, ttl: int) -> int:
        window = min(LEASE_REUSE_MAX, ttl // 20)
        async with self._lock:
            cached = self._cache.get(ttl)
            now = time.monotonic()
            if cached and now < cached[1] + window:
                return cached[0]
            stub = rpc.LeaseStub(self._channels.channel())
            request = rpc.LeaseGrantRequest(TTL=ttl + window)
            try:
                response = await stub.LeaseGrant(request, timeout=self._channels.timeout)
            except grpc.aio.AioRpcError as err:
                raise map_error(err) from err
            self._cache[ttl] = (response.ID, now)
            return int(response.ID)


class EtcdStore:
    """A :class:`~kboot.controlplane.store.base.Store` on an etcd v3 cluster."""

    def __init__(
        self,
        endpoints: list[Endpoint],
        *,
        cacert: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._channels = Channels(endpoints, TlsFiles(cacert, cert, key), timeout=timeout)
        self._leases = _Leases(self._channels)
        self._compacted = 0
        self._closed = False
        self._mux: WatchMux | None = None

    async def _kv_call(self, method: str, request: Any, *, mutating: bool = False) -> Any:
        timeout = self._channels.timeout
        return await self._channels.call(
            lambda kv: getattr(kv, method)(request, timeout=timeout), mutating=mutating
        )

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, key: str) -> KeyValue | None:
        response = await self._kv_call("Range", rpc.RangeRequest(key=key.encode()))
        return _kv(response.kvs[0]) if response.kvs else None

    async def list(
        self, prefix: str, *, revision: int = 0, limit: int = 0, start_after: str = ""
    ) -> ListResult:
        request = rpc.RangeRequest(
            key=range_start(prefix, start_after).encode() or b"\0",
            range_end=_range_end(prefix),
            limit=limit,
            revision=revision,
        )
        try:
            response = await self._kv_call("Range", request)
        except StoreError as err:
            if "compacted" not in str(err):
                raise
            raise Compacted(revision, await self._learn_compacted()) from err
        items = [_kv(raw) for raw in response.kvs]
        return ListResult(items, revision or response.header.revision, bool(response.more))

    async def count(self, prefix: str) -> int:
        request = rpc.RangeRequest(
            key=prefix.encode() or b"\0", range_end=_range_end(prefix), count_only=True
        )
        return int((await self._kv_call("Range", request)).count)

    async def current_revision(self) -> int:
        request = rpc.RangeRequest(key=b"\0", count_only=True, limit=1)
        return int((await self._kv_call("Range", request)).header.revision)

    # -- writes --------------------------------------------------------------------------------

    async def _txn(self, key: bytes, compare: Any, success: Any) -> Any:
        failure = rpc.RequestOp(request_range=rpc.RangeRequest(key=key))
        request = rpc.TxnRequest(compare=[compare], success=[success], failure=[failure])
        return await self._kv_call("Txn", request, mutating=True)

    @staticmethod
    def _mod_equals(key: bytes, revision: int) -> Any:
        if revision:
            return rpc.Compare(
                key=key, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL, mod_revision=revision
            )
        return rpc.Compare(
            key=key, target=rpc.Compare.VERSION, result=rpc.Compare.GREATER, version=0
        )

    def _failed(self, key: str, response: Any) -> StoreError:
        kvs = response.responses[0].response_range.kvs
        return RevisionConflict(key, _kv(kvs[0])) if kvs else KeyNotFound(key)

    async def create(self, key: str, value: bytes, *, ttl: int | None = None,
                     absent: str | None = None) -> int:
        raw = key.encode()
        lease = await self._leases.lease_for(ttl) if ttl else 0
        compare = rpc.Compare(
            key=raw, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL, mod_revision=0
        )
        put = rpc.RequestOp(request_put=rpc.PutRequest(key=raw, value=value, lease=lease))
        if absent is None:
            response = await self._txn(raw, compare, put)
            if not response.succeeded:
                raise KeyExists(key)
            return int(response.header.revision)
        # etcd compares a range key by key and an empty range as one missing key: "every key
        # under the prefix has create revision 0" holds exactly when the prefix is empty
        empty = rpc.Compare(key=absent.encode() or b"\0", range_end=_range_end(absent),
                            target=rpc.Compare.CREATE, result=rpc.Compare.EQUAL,
                            create_revision=0)
        request = rpc.TxnRequest(compare=[compare, empty], success=[put],
                                 failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=raw))])
        response = await self._kv_call("Txn", request, mutating=True)
        if not response.succeeded:
            if response.responses[0].response_range.kvs:
                raise KeyExists(key)
            raise PrefixNotEmpty(absent)
        return int(response.header.revision)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        raw = key.encode()
        put = rpc.PutRequest(key=raw, value=value, ignore_lease=True)
        response = await self._txn(
            raw, self._mod_equals(raw, expected_revision), rpc.RequestOp(request_put=put)
        )
        if not response.succeeded:
            raise self._failed(key, response)
        return int(response.header.revision)

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        raw = key.encode()
        op = rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=raw, prev_kv=True))
        response = await self._txn(raw, self._mod_equals(raw, expected_revision), op)
        if not response.succeeded:
            raise self._failed(key, response)
        prev = response.responses[0].response_delete_range.prev_kvs
        if not prev:
            raise KeyNotFound(key)
        old = _kv(prev[0])
        rev = int(response.header.revision)
        return KeyValue(old.key, old.value, old.create_revision, rev, old.lease)

    async def compact(self, revision: int) -> None:
        try:
            await self._kv_call("Compact", rpc.CompactionRequest(revision=revision))
        except StoreError as err:
            if "compacted" not in str(err):
                raise
        self._compacted = max(self._compacted, revision)

    async def _learn_compacted(self) -> int:
        """The cluster's compaction revision: a watch from revision 1 is refused with it."""
        call = rpc.WatchStub(self._channels.channel()).Watch()
        try:
            create = rpc.WatchCreateRequest(key=b"\0", start_revision=1)
            await call.write(rpc.WatchRequest(create_request=create))
            for _ in range(2):  # "created", then "canceled" carrying the compact revision
                response = await asyncio.wait_for(call.read(), self._channels.timeout)
                if response.compact_revision or response.canceled:
                    self._compacted = max(self._compacted, int(response.compact_revision))
                    break
        except (grpc.aio.AioRpcError, TimeoutError) as err:
            log.debug("cannot learn the compaction revision: %s", err)
        finally:
            call.cancel()
        return self._compacted

    # -- watch ---------------------------------------------------------------------------------

    def watch(self, prefix: str, *, from_revision: int) -> AsyncIterator[WatchEvent]:
        return self._watch(prefix, from_revision)

    def _watch_mux(self) -> WatchMux:
        """The live shared watch stream, opened on the active endpoint when there is none."""
        if self._mux is None or self._mux.broken:
            self._mux = WatchMux(self._channels.sync_channel(), self._stream_broken)
        return self._mux

    def _stream_broken(self, err: BaseException) -> None:
        """Runs once per broken stream (on its thread): move to the next endpoint if the
        member is gone; the watches resubscribe on a new stream."""
        code = err.code() if isinstance(err, grpc.Call) else None
        if not self._closed and (isinstance(err, StreamEnded) or code in FAILOVER_CODES):
            self._channels.fail_over(err.details() if isinstance(err, grpc.Call) else err)

    async def _watch(self, prefix: str, from_revision: int) -> AsyncIterator[WatchEvent]:
        """Follow ``prefix`` on the shared stream (``etcd_watch``: read on a thread, one loop
        wake-up per burst); a broken stream resumes after the last delivered revision."""
        next_rev = from_revision + 1
        key, end = prefix.encode() or b"\0", _range_end(prefix)
        while True:
            mux = self._watch_mux()
            watch_id, feed = mux.open(key, end, next_rev)
            try:
                while True:
                    for item in await feed.take():
                        if isinstance(item, BaseException):
                            raise item
                        for event in item:
                            yield event
                            next_rev = event.kv.mod_revision + 1
            except Compacted as err:
                self._compacted = max(self._compacted, err.compacted)
                raise
            except StreamEnded:
                if self._closed:
                    return
                await asyncio.sleep(RESUBSCRIBE_DELAY)
            except grpc.RpcError as err:
                code = err.code() if isinstance(err, grpc.Call) else None
                if self._closed or code == grpc.StatusCode.CANCELLED:
                    return
                if code not in FAILOVER_CODES:
                    raise map_error(err) from err
                await asyncio.sleep(RESUBSCRIBE_DELAY)
            finally:
                mux.cancel(watch_id)

    async def close(self) -> None:
        self._closed = True
        if self._mux is not None:
            self._mux.close()
        await self._channels.close()
