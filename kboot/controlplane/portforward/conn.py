"""Byte-stream connections under a port-forward session, whatever carries them.

A session reads and writes bytes; :class:`Conn` hides whether those travel on a raw
connection taken over after an HTTP ``101`` (the SPDY/3.1 upgrade — aiohttp only upgrades to
WebSocket, so :func:`take_over` swaps the transport's protocol for a plain byte pipe) or in
WebSocket binary messages (kubectl's tunnel: every write is one message, message boundaries
mean nothing). Writes are serialised by the session, so each ``write`` is one whole frame.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from aiohttp import WSMsgType, web

READ_LIMIT = 1 << 18


class Conn(Protocol):
    async def read(self) -> bytes: ...  # b"" at end of stream

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


class _Pipe(asyncio.Protocol):
    """The protocol a taken-over transport feeds: a StreamReader plus write flow control."""

    def __init__(self, reader: asyncio.StreamReader, previous: asyncio.BaseProtocol) -> None:
        self.reader, self.previous = reader, previous
        self.lost = asyncio.get_running_loop().create_future()
        self._writable = asyncio.Event()
        self._writable.set()

    def data_received(self, data: bytes) -> None:
        self.reader.feed_data(data)

    def eof_received(self) -> bool:
        self.reader.feed_eof()
        return True  # keep the write half open if the transport can (TLS cannot)

    def connection_lost(self, exc: Exception | None) -> None:
        self.reader.feed_eof()
        self._writable.set()
        if not self.lost.done():
            self.lost.set_result(None)
        # the HTTP server still counts the connection as open (shutdown waits for it): tell it
        with contextlib.suppress(Exception):
            self.previous.connection_lost(exc)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    async def drain(self) -> None:
        await self._writable.wait()


class RawConn:
    """A transport taken over from its HTTP server (see :func:`take_over`)."""

    def __init__(self, transport: asyncio.Transport, pipe: _Pipe) -> None:
        self.transport, self.pipe = transport, pipe

    async def read(self) -> bytes:
        return await self.pipe.reader.read(READ_LIMIT)

    async def write(self, data: bytes) -> None:
        if self.transport.is_closing():
            raise ConnectionResetError("connection closed")
        self.transport.write(data)
        await self.pipe.drain()

    def write_eof(self) -> None:
        if not self.transport.is_closing() and self.transport.can_write_eof():
            self.transport.write_eof()

    async def close(self) -> None:
        self.transport.close()


def take_over(request: web.Request) -> RawConn:
    """Take ``request``'s connection away from aiohttp: bytes the client sends from now on
    reach the returned RawConn, not the HTTP parser. Call it *before* answering 101, so no
    byte of the new protocol can reach aiohttp; the 101 still goes out through aiohttp."""
    transport = request.transport
    if transport is None or transport.is_closing():
        raise ConnectionResetError("the client went away before the upgrade")
    reader = asyncio.StreamReader(limit=READ_LIMIT)
    reader.set_transport(transport)  # pauses reading while the reader is full
    pipe = _Pipe(reader, transport.get_protocol())
    transport.set_protocol(pipe)
    return RawConn(transport, pipe)


async def upgrade(request: web.Request, headers: dict[str, str]
                  ) -> tuple[RawConn, web.StreamResponse]:
    """Answer ``101 Switching Protocols`` with ``headers``: the raw connection, and the
    response for the handler to return once it is done with the connection."""
    conn = take_over(request)
    response = web.StreamResponse(status=101, headers={"Connection": "Upgrade", **headers})
    response.force_close()  # aiohttp closes, never reuses, the connection after the handler
    await response.prepare(request)
    return conn, response


class StreamConn:
    """A client connection opened with :func:`asyncio.open_connection` (apiserver → kubelet)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def read(self) -> bytes:
        return await self.reader.read(READ_LIMIT)

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def write_eof(self) -> None:
        if self.writer.can_write_eof() and not self.writer.is_closing():
            with contextlib.suppress(OSError):
                self.writer.write_eof()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


class WebSocketConn:
    """A byte stream carried in WebSocket binary messages (kubectl's SPDY tunnel)."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def read(self) -> bytes:
        while True:
            msg = await self.ws.receive()
            if msg.type == WSMsgType.BINARY and msg.data:
                return bytes(msg.data)
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                            WSMsgType.ERROR):
                return b""

    async def write(self, data: bytes) -> None:
        await self.ws.send_bytes(data)

    async def close(self) -> None:
        await self.ws.close()


async def pump(source: Conn, sink: RawConn | StreamConn) -> None:
    """Copy ``source`` into ``sink`` until end of stream, then half-close ``sink``."""
    while data := await source.read():
        await sink.write(data)
    sink.write_eof()
