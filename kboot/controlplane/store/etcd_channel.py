"""gRPC plumbing for the etcd backend: endpoints, TLS channels, failover and error mapping.

We speak etcd's v3 gRPC API with the generated stubs that ``aetcd`` ships (``aetcd.rpc``), on our
own ``grpc.aio`` channels: aetcd's ``Client`` only opens plaintext channels and its range call
has no limit or revision, both of which the apiserver needs. One channel per endpoint; calls go
to the active one and move to the next endpoint when it is UNAVAILABLE (a dead member), so a
3-member cluster survives the loss of any one. Channels carry explicit keepalive (dead peers are
noticed in ~40 s, not at TCP timeout) and message limits above etcd's 1.5 MiB request cap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from aetcd import rpc

from kboot.controlplane.store.base import StoreError, StoreUnavailable

log = logging.getLogger(__name__)

MAX_SEND = 4 * 1024 * 1024
MAX_RECEIVE = 256 * 1024 * 1024  # a big list of objects in one Range response
CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_send_message_length", MAX_SEND),
    ("grpc.max_receive_message_length", MAX_RECEIVE),
)
FAILOVER_CODES = frozenset({grpc.StatusCode.UNAVAILABLE})

T = TypeVar("T")


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_endpoints(netloc: str) -> list[Endpoint]:
    """``host:port[,host:port…]`` (port defaults to 2379; IPv6 as ``[::1]:2379``)."""
    endpoints = []
    for part in filter(None, (p.strip() for p in netloc.split(","))):
        host, sep, port = part.rpartition(":")
        if not sep or host.endswith(":"):  # no port, or a bare IPv6 address
            host, port = part, "2379"
        endpoints.append(Endpoint(host.strip("[]"), int(port)))
    if not endpoints:
        raise ValueError("etcd URL names no endpoint: etcd://host:port[,host:port]")
    return endpoints


@dataclass(frozen=True)
class TlsFiles:
    cacert: str | None
    cert: str | None
    key: str | None

    def credentials(self) -> grpc.ChannelCredentials | None:
        if not (self.cacert or self.cert or self.key):
            return None
        if bool(self.cert) != bool(self.key):
            raise ValueError("etcd URL: cert= and key= go together")

        def read(path: str | None) -> bytes | None:
            return Path(path).read_bytes() if path else None

        return grpc.ssl_channel_credentials(
            root_certificates=read(self.cacert),
            private_key=read(self.key),
            certificate_chain=read(self.cert),
        )


class Channels:
    """One lazily opened channel per endpoint, and which one is in use."""

    def __init__(self, endpoints: list[Endpoint], tls: TlsFiles, *, timeout: float) -> None:
        self.endpoints = endpoints
        self.timeout = timeout
        self._tls = tls
        self._channels: dict[int, grpc.aio.Channel] = {}
        self._sync_channels: dict[int, grpc.Channel] = {}  # watch streams read on threads
        self._stubs: dict[int, tuple[grpc.aio.Channel, Any]] = {}
        self._active = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def channel(self) -> grpc.aio.Channel:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # grpc.aio channels belong to the loop that made them
            self._loop, self._channels = loop, {}
        index = self._active
        if index not in self._channels:
            target = str(self.endpoints[index])
            creds = self._tls.credentials()
            if creds is None:
                chan = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
            else:
                chan = grpc.aio.secure_channel(target, creds, options=CHANNEL_OPTIONS)
            self._channels[index] = chan
        return self._channels[index]

    def sync_channel(self) -> grpc.Channel:
        """A blocking channel to the active endpoint, for watch streams read on a thread
        (``etcd_watch``): unlike ``grpc.aio`` ones, it belongs to no event loop."""
        index = self._active
        if index not in self._sync_channels:
            target = str(self.endpoints[index])
            creds = self._tls.credentials()
            if creds is None:
                chan = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
            else:
                chan = grpc.secure_channel(target, creds, options=CHANNEL_OPTIONS)
            self._sync_channels[index] = chan
        return self._sync_channels[index]

    def kv(self) -> Any:
        """The KV stub of the active channel (made once per channel: a stub builds a callable
        per method, which cost a measurable share of every write when made per call)."""
        channel = self.channel()
        stub = self._stubs.get(id(channel))
        if stub is None or stub[0] is not channel:
            stub = self._stubs[id(channel)] = (channel, rpc.KVStub(channel))
        return stub[1]

    def fail_over(self, reason: object) -> None:
        old = self.endpoints[self._active]
        self._active = (self._active + 1) % len(self.endpoints)
        log.warning("etcd %s unavailable (%s); using %s", old, reason, self.endpoints[self._active])

    async def call(self, invoke: Callable[[Any], Awaitable[T]], *, mutating: bool = False) -> T:
        """Run ``invoke(kv_stub)``, failing over across endpoints while they are UNAVAILABLE.

        A mutating call is retried elsewhere only when the member never took it (connection
        refused or reset); an error from etcd itself ("etcdserver: request timed out") means the
        write may still commit, so it is raised as StoreUnavailable rather than sent twice.
        """
        last: grpc.aio.AioRpcError | None = None
        for _ in self.endpoints:
            try:
                return await invoke(self.kv())
            except grpc.aio.AioRpcError as err:
                maybe_applied = mutating and "etcdserver:" in (err.details() or "")
                if err.code() not in FAILOVER_CODES or maybe_applied:
                    raise map_error(err) from err
                last = err
                self.fail_over(err.details())
        assert last is not None
        raise map_error(last) from last

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        self._stubs = {}
        for chan in channels.values():
            await chan.close()
        sync_channels, self._sync_channels = self._sync_channels, {}
        for sync in sync_channels.values():
            sync.close()


def map_error(err: grpc.aio.AioRpcError | grpc.Call) -> StoreError:
    code, details = err.code(), err.details() or ""
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return StoreUnavailable(f"etcd {code.name.lower()}: {details}")
    return StoreError(f"etcd {code.name.lower()}: {details}")
