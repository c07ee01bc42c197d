"""The DNS server: asyncio UDP and TCP listeners answering from the current :class:`Zone`.

The zone is replaced wholesale (one assignment) whenever Services or Endpoints change, so a
query always sees one consistent snapshot. TCP carries the same messages with a two-byte length
prefix (RFC 1035 §4.2.2), for answers too big for 512-byte UDP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import cast

from kboot.controlplane.dns import wire
from kboot.controlplane.dns.zone import Zone, answer

log = logging.getLogger(__name__)


class Resolver:
    """Holds the zone and turns a query message into a response message."""

    def __init__(self, zone: Zone) -> None:
        self.zone = zone

    def respond(self, msg: bytes, *, max_size: int | None) -> bytes | None:
        try:
            query = wire.parse_query(msg)
        except wire.WireError:
            return wire.error_response(msg, wire.FORMERR)
        if query.flags & 0x8000:  # a response, not a query: ignore
            return None
        rcode, answers, authority = answer(self.zone, query.question)
        return wire.build_response(query, rcode=rcode, answers=answers, authority=authority,
                                   max_size=max_size)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.resolver.respond(data, max_size=wire.MAX_UDP)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


async def _tcp_client(resolver: Resolver, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            size = struct.unpack("!H", await reader.readexactly(2))[0]
            reply = resolver.respond(await reader.readexactly(size), max_size=None)
            if reply is None:
                break
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def serve(resolver: Resolver, host: str, port: int
                ) -> tuple[asyncio.DatagramTransport, asyncio.Server]:
    """Start both listeners on one port (port 0: TCP picks it); the caller closes them."""
    loop = asyncio.get_running_loop()
    tcp = await asyncio.start_server(lambda r, w: _tcp_client(resolver, r, w), host, port)
    port = tcp.sockets[0].getsockname()[1]
    udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(resolver), local_addr=(host, port))
    log.info("DNS serving on %s:%d (udp+tcp)", host, port)
    return udp, tcp
