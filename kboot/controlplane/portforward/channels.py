"""Port-forward over the WebSocket channel protocol (``v4.channel.k8s.io``, also offered as
``portforward.k8s.io``), as the official Python client's ``kubernetes.stream.portforward``
speaks it.

The ports come in the query (``?ports=80&ports=443`` or ``?ports=80,443``); port number *i*
(0-based) owns channel ``2i`` for data and ``2i+1`` for errors. Every channel's first message
from the server is the channel byte and the port as two little-endian bytes. One connection
per port is dialed when the session opens; client messages are ``channel byte + data``. v4 has
no per-channel close: a port whose connection ended just stops answering, and the session ends
when the client closes the WebSocket or every port's connection has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct

from aiohttp import WSMsgType, web

from kboot.controlplane.errors import ControlPlaneError
from kboot.controlplane.portforward.dial import DialError
from kboot.controlplane.portforward.session import CHUNK, QUEUE_CHUNKS, Dial
from kboot.controlplane.portforward.stats import Stats

PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")
log = logging.getLogger(__name__)


class PortsError(ControlPlaneError, ValueError):
    """The ``ports`` query is missing or not a list of TCP ports."""


def parse_ports(values: list[str]) -> list[int]:
    """``["80", "443,8080"]`` → ``[80, 443, 8080]``, with upstream's checks."""
    ports: list[int] = []
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item.isdigit() or not 0 < int(item) < 65536:
                raise PortsError(f"invalid port {item!r}: expected a number from 1 to 65535")
            ports.append(int(item))
    if not ports:
        raise PortsError("at least one port must be given in the 'ports' query parameter")
    return ports


class ChannelSession:
    def __init__(self, ws: web.WebSocketResponse, ports: list[int], dial: Dial,
                 stats: Stats) -> None:
        self.ws, self.ports, self.dial, self.stats = ws, ports, dial, stats
        self._queues: list[asyncio.Queue[bytes | None]] = [
            asyncio.Queue(QUEUE_CHUNKS) for _ in ports]
        self._open = [True] * len(ports)
        self._lock = asyncio.Lock()

    async def _send(self, channel: int, data: bytes) -> None:
        async with self._lock:
            await self.ws.send_bytes(bytes([channel]) + data)

    async def run(self) -> None:
        for index, port in enumerate(self.ports):
            await self._send(2 * index, struct.pack("<H", port))
            await self._send(2 * index + 1, struct.pack("<H", port))
        forwards = [asyncio.create_task(self._forward(i)) for i in range(len(self.ports))]
        reader = asyncio.create_task(self._read())
        all_done = asyncio.create_task(_all(forwards))
        try:
            await asyncio.wait([reader, all_done], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, *forwards):
                task.cancel()
            await asyncio.gather(reader, all_done, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.ws.close()

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != WSMsgType.BINARY:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    return
                continue
            if not msg.data:
                continue
            channel, payload = msg.data[0], bytes(msg.data[1:])
            index = channel // 2
            if channel % 2 == 0 and index < len(self.ports) and self._open[index] and payload:
                await self._queues[index].put(payload)

    def _close(self, index: int) -> None:
        self._open[index] = False
        queue = self._queues[index]
        while not queue.empty():
            queue.get_nowait()

    async def _forward(self, index: int) -> None:
        self.stats.streams += 1
        try:
            reader, writer = await self.dial(self.ports[index])
        except DialError as err:
            self.stats.stream_errors += 1
            log.info("port-forward channel to port %d refused: %s", self.ports[index], err)
            self._close(index)
            await self._send(2 * index + 1, str(err).encode())
            return
        upstream = asyncio.create_task(self._to_pod(index, writer))
        try:
            with contextlib.suppress(ConnectionError):
                while chunk := await reader.read(CHUNK):
                    await self._send(2 * index, chunk)
        finally:
            upstream.cancel()
            self._close(index)
            writer.close()

    async def _to_pod(self, index: int, writer: asyncio.StreamWriter) -> None:
        queue = self._queues[index]
        with contextlib.suppress(ConnectionError):
            while (chunk := await queue.get()) is not None:
                writer.write(chunk)
                await writer.drain()


async def _all(tasks: list[asyncio.Task[None]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)
