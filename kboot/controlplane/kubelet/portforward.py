"""``/portForward/{ns}/{pod}``: the kubelet's end of ``kubectl port-forward``.

One route, three ways in (docs/kubelet.md "Streams: port-forward"):

- WebSocket with subprotocol ``SPDY/3.1+portforward.k8s.io`` — kubectl ≥ 1.31's tunnel: a
  SPDY session whose bytes travel in binary messages;
- ``Upgrade: SPDY/3.1`` with ``X-Stream-Protocol-Version: portforward.k8s.io`` — the legacy
  upgrade kubectl falls back to (``KUBECTL_PORT_FORWARD_WEBSOCKETS=false`` forces it);
- WebSocket ``v4.channel.k8s.io``/``portforward.k8s.io`` with ``?ports=`` — the Python client.

Every forwarded connection is dialed to ``localhost:PORT`` inside the pod's network namespace
(:mod:`kboot.controlplane.portforward.dial`). A pod that is not running on this node is refused
with 404 before any upgrade, so the client sees a plain HTTP error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Protocol

from aiohttp import web

from kboot.controlplane.portforward import channels, conn, dial, session
from kboot.controlplane.portforward.stats import Stats

SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"


class PodNetworks(Protocol):
    async def pod_netns(self, namespace: str, pod: str) -> str | None:
        """The running pod's network namespace path ("" = the kubelet's own), None if the pod
        has no running sandbox on this node."""
        ...


def _wants_spdy(request: web.Request) -> bool:
    upgrade = request.headers.get("Upgrade", "").lower()
    versions = ",".join(request.headers.getall("X-Stream-Protocol-Version", []))
    return upgrade.startswith("spdy/3.1") and session.PROTOCOL in versions


async def handle(request: web.Request, pods: PodNetworks, stats: Stats) -> web.StreamResponse:
    ns, name = request.match_info["ns"], request.match_info["pod"]
    netns = await pods.pod_netns(ns, name)
    if netns is None:
        raise web.HTTPNotFound(text=f"pod {ns}/{name} is not running on this node\n")
    label = f"the network namespace of pod {ns}/{name}"

    async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await dial.connect(netns, port, label=label)

    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await _websocket(request, connect, stats)
    if not _wants_spdy(request):
        raise web.HTTPBadRequest(text="port-forward needs a WebSocket (SPDY/3.1+portforward.k8s"
                                      ".io or v4.channel.k8s.io) or a SPDY/3.1 upgrade with "
                                      f"X-Stream-Protocol-Version: {session.PROTOCOL}\n")
    raw, response = await conn.upgrade(request, {"Upgrade": "SPDY/3.1",
                                                 "X-Stream-Protocol-Version": session.PROTOCOL})
    await _serve("spdy", session.SpdySession(raw, connect, stats).run(), stats)
    return response


async def _websocket(request: web.Request, connect: session.Dial, stats: Stats
                     ) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=(SPDY_TUNNEL, *channels.PROTOCOLS), max_msg_size=0,
                               autoping=True)
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    ports: list[int] = []
    if SPDY_TUNNEL not in offered:
        try:
            ports = channels.parse_ports(request.query.getall("ports", []))
        except channels.PortsError as err:
            raise web.HTTPBadRequest(text=f"{err}\n") from None
    await ws.prepare(request)
    if ws.ws_protocol == SPDY_TUNNEL:
        await _serve("websocket-spdy", session.SpdySession(conn.WebSocketConn(ws), connect,
                                                           stats).run(), stats)
    else:
        await _serve("websocket", channels.ChannelSession(ws, ports, connect, stats).run(),
                     stats)
    return ws


async def _serve(protocol: str, run: Coroutine[Any, Any, None], stats: Stats) -> None:
    stats.started(protocol)
    try:
        await run
    finally:
        stats.ended(protocol)
