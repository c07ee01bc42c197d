"""``pods/portforward``: relayed, byte for byte, to ``/portForward/<ns>/<pod>`` on the pod's
kubelet, which ends the streams inside the pod (docs/apiserver.md, docs/kubelet.md).

The verb is ``create`` on ``pods/portforward``, as upstream. Two ways in, the same way out:

- a WebSocket (kubectl's ``SPDY/3.1+portforward.k8s.io`` tunnel, or the channel protocol
  ``v4.channel.k8s.io`` with ``?ports=`` that the Python client speaks): the apiserver opens a
  WebSocket to the kubelet offering the client's subprotocols and relays messages unchanged;
- ``Upgrade: SPDY/3.1`` (kubectl's fallback): the apiserver makes the same upgrade to the
  kubelet over TLS first — so a kubelet refusal (pod not running there) reaches the client as a
  plain ``Status`` — then answers 101 and copies raw bytes both ways.

The apiserver never parses SPDY; it counts sessions per protocol in ``/metrics``.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver.errors import JsonObj, StatusError, bad_request
from kboot.controlplane.apiserver.kubeletproxy import _relay as relay_messages
from kboot.controlplane.apiserver.kubeletproxy import _segments, kubelet_address
from kboot.controlplane.apiserver.routing import Target
from kboot.controlplane.apiserver.state import ServerState
from kboot.controlplane.portforward import conn

SPDY_VERSION_HEADER = "X-Stream-Protocol-Version"
WS_PROTOCOLS = ("SPDY/3.1+portforward.k8s.io", "v4.channel.k8s.io", "portforward.k8s.io")
REASONS = {400: "BadRequest", 403: "Forbidden", 404: "NotFound"}


async def _kubelet(state: ServerState, target: Target) -> tuple[str, int, str]:
    """(kubelet host, port, path) for a Running pod; a clear error otherwise."""
    assert target.name is not None
    pod: JsonObj = await state.storage.get(target.kind, target.namespace, target.name)
    phase = (pod.get("status") or {}).get("phase", "Pending")
    node_name = (pod.get("spec") or {}).get("nodeName")
    if phase != "Running" or not node_name:
        raise bad_request(f"unable to forward port because pod {target.name} is not running. "
                          f"Current status={phase}")
    nodes = lookup("", "nodes")
    assert nodes is not None
    ip, port = kubelet_address(await state.storage.get(nodes, None, node_name))
    return ip, port, f"/portForward/{_segments(target.namespace, target.name)}"


async def port_forward(state: ServerState, target: Target, request: web.Request
                       ) -> web.StreamResponse:
    upgrade = request.headers.get("Upgrade", "").lower()
    if upgrade != "websocket" and not upgrade.startswith("spdy/3.1"):
        raise bad_request("Upgrade request required: port-forward needs a WebSocket "
                          "(SPDY/3.1+portforward.k8s.io, v4.channel.k8s.io) or SPDY/3.1")
    ip, port, path = await _kubelet(state, target)
    host = f"[{ip}]" if ":" in ip else ip
    params = urlencode(list(request.query.items()))  # the client's parameters, re-encoded
    query = f"?{params}" if params else ""
    stats = state.metrics.portforward
    if upgrade == "websocket":
        return await _websocket(state, request, f"https://{host}:{port}{path}{query}")
    kubelet = await _dial_spdy(state, ip, port, f"{path}{query}",
                               request.headers.getall(SPDY_VERSION_HEADER, []))
    try:
        client, response = await conn.upgrade(request, {
            "Upgrade": "SPDY/3.1", SPDY_VERSION_HEADER: kubelet.version})
    except BaseException:
        await kubelet.conn.close()
        raise
    stats.started("spdy")
    try:
        await _splice(client, kubelet.conn)
    finally:
        stats.ended("spdy")
    return response


class _Upgraded:
    def __init__(self, stream: conn.StreamConn, version: str) -> None:
        self.conn, self.version = stream, version


def _ssl(state: ServerState) -> ssl.SSLContext:
    if state.kubelet_ssl is not None:
        return state.kubelet_ssl
    ctx = ssl.create_default_context()  # tests without a cluster CA: like aiohttp's ssl=False
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return ctx


async def _dial_spdy(state: ServerState, ip: str, port: int, path: str, versions: list[str]
                     ) -> _Upgraded:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(ip, port, ssl=_ssl(state), limit=1 << 18), 10)
    except (TimeoutError, OSError) as err:
        raise StatusError(502, "InternalError", f"error dialing kubelet at {ip}:{port}: {err}"
                       ) from None
    stream = conn.StreamConn(reader, writer)
    try:
        head = [f"POST {path} HTTP/1.1", f"Host: {ip}:{port}", "Connection: Upgrade",
                "Upgrade: SPDY/3.1", "Content-Length: 0"]
        head += [f"{SPDY_VERSION_HEADER}: {v}" for v in versions or ["portforward.k8s.io"]]
        await stream.write(("\r\n".join(head) + "\r\n\r\n").encode())
        status, headers = _parse_head(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30))
        if status != 101:
            length = int(headers.get("content-length", "0") or 0)
            body = await asyncio.wait_for(reader.read(min(length, 4096)), 10) if length else b""
            text = body.decode(errors="replace").strip() or f"kubelet answered {status}"
            raise StatusError(status if 400 <= status < 600 else 502,
                           REASONS.get(status, "InternalError"), text)
        return _Upgraded(stream, headers.get(SPDY_VERSION_HEADER.lower(), ""))
    except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            ValueError) as err:
        await stream.close()
        raise StatusError(502, "InternalError", f"error upgrading the kubelet connection: {err}"
                       ) from None
    except StatusError:
        await stream.close()
        raise


def _parse_head(raw: bytes) -> tuple[int, dict[str, str]]:
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _splice(client: conn.RawConn, kubelet: conn.StreamConn) -> None:
    """Copy both ways until either side ends (SPDY never half-closes TCP, and TLS cannot)."""
    tasks = [asyncio.create_task(conn.pump(client, kubelet)),
             asyncio.create_task(conn.pump(kubelet, client))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await kubelet.close()
        await client.close()


async def _websocket(state: ServerState, request: web.Request, url: str) -> web.StreamResponse:
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
               if p.strip()] or list(WS_PROTOCOLS)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=state.kubelet_ssl if state.kubelet_ssl else False),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
    async with session:
        try:
            upstream = await session.ws_connect(url, protocols=offered, max_msg_size=0)
        except aiohttp.WSServerHandshakeError as err:
            raise StatusError(err.status if 400 <= err.status < 600 else 502,
                           REASONS.get(err.status, "InternalError"),
                           f"the kubelet refused the port-forward: {err.message}") from None
        except (aiohttp.ClientError, OSError) as err:
            raise StatusError(502, "InternalError", f"error dialing kubelet: {err}") from None
        async with upstream:
            chosen = upstream.protocol
            client = web.WebSocketResponse(protocols=[chosen] if chosen else (), max_msg_size=0)
            await client.prepare(request)
            protocol = "websocket-spdy" if chosen == WS_PROTOCOLS[0] else "websocket"
            state.metrics.portforward.started(protocol)
            try:
                await relay_messages(client, upstream)  # the same relay as exec
            finally:
                state.metrics.portforward.ended(protocol)
                await client.close()
            return client
