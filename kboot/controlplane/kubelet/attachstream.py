"""``kubectl attach``: the client's WebSocket relayed to containerd's own attach stream.

A CRI container's stdio belongs to containerd (its log is fed from the same pipes), so the only
way in that shares the output with the log and reaches a ``stdin: true`` container's stdin is
the CRI ``Attach`` call: it returns a one-time URL on containerd's streaming server, which
speaks the WebSocket channel protocol up to ``v4.channel.k8s.io`` (containerd 1.6 has no
``v5``). Frames of v4 and v5 are the same bytes (channel byte + payload; 3 = Status,
4 = resize ``{"Width","Height"}``) except v5's ``255`` close message, which has no v4 form: it
is dropped (stdin stays open until the client goes away; with ``stdinOnce`` containerd then
closes the container's stdin).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from aiohttp import WSMsgType, web

from kboot.controlplane.kubelet import execstream

log = logging.getLogger(__name__)
RUNTIME_PROTOCOL = "v4.channel.k8s.io"


async def relay(client: web.WebSocketResponse, url: str) -> None:
    """Relay frames between *client* (prepared) and the runtime's attach URL until either ends.

    A runtime that cannot be reached ends the session with a channel-3 Status saying why.
    """
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            upstream = await session.ws_connect(url, protocols=(RUNTIME_PROTOCOL,),
                                                max_msg_size=0, autoping=True)
        except (aiohttp.ClientError, OSError) as err:
            await client.send_bytes(execstream.error_frame(f"error attaching: {err}"))
            return
        async with upstream:
            await _pump_both(client, upstream)


def frame_bytes(msg: aiohttp.WSMessage) -> bytes | None:
    """A client's channel frame as bytes, or None when the connection ends. Text frames count
    as their UTF-8 bytes: the Python client sends ``str`` stdin as text frames (channel byte
    first), and upstream's kubelet reads both frame types alike."""
    if msg.type == WSMsgType.BINARY:
        data: bytes = msg.data
        return data
    if msg.type == WSMsgType.TEXT:
        text: str = msg.data
        return text.encode()
    return None


async def _pump_both(client: web.WebSocketResponse,
                     upstream: aiohttp.ClientWebSocketResponse) -> None:
    async def down() -> None:
        async for msg in upstream:
            if msg.type != WSMsgType.BINARY:
                break
            await client.send_bytes(msg.data)

    async def up() -> None:
        async for msg in client:
            data = frame_bytes(msg)
            if data is None:
                break
            if data[:1] == bytes([execstream.CLOSE]):
                continue  # v5 half-close: no v4 equivalent
            await upstream.send_bytes(data)

    tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    with contextlib.suppress(Exception):
        await asyncio.gather(*tasks, return_exceptions=True)
