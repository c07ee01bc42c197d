"""``pods/log``, ``pods/exec`` and ``pods/attach``: proxied to the pod's kubelet.

``pods/portforward`` lives in :mod:`.portforward` (it also relays raw SPDY). The interface
(docs/apiserver.md): the kubelet serves HTTPS on the node's
``status.daemonEndpoints.kubeletEndpoint.Port`` (default 10250) at its ``InternalIP``;
``GET /containerLogs/<ns>/<pod>/<container>?follow=&tailLines=&timestamps=&sinceSeconds=
&limitBytes=&previous=`` streams plain text, and ``GET /exec|/attach/<ns>/<pod>/<container>?
command=…&stdin=&stdout=&stderr=&tty=`` is a WebSocket (``v5.channel.k8s.io``/``v4…``). The
apiserver authenticates with its kubelet-client certificate and verifies the kubelet's serving
certificate against the cluster CA. WebSocket frames are relayed unchanged in both directions,
with the subprotocol the kubelet chose.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import web

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver import streams
from kboot.controlplane.apiserver.errors import JsonObj, StatusError, bad_request
from kboot.controlplane.apiserver.routing import Target
from kboot.controlplane.apiserver.state import Scope, ServerState
from kboot.controlplane.apiserver.webhooks import write as webhooks

log = logging.getLogger(__name__)

LOG_PARAMS = ("follow", "tailLines", "timestamps", "sinceSeconds", "sinceTime", "limitBytes",
              "previous")
STREAM_PARAMS = ("stdin", "stdout", "stderr", "tty")
WS_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io",
                "v2.channel.k8s.io", "channel.k8s.io", "base64.channel.k8s.io")
DEFAULT_KUBELET_PORT = 10250


def pick_container(pod: JsonObj, wanted: str | None) -> str:
    """The container to address: the requested one, the default annotation, or the only one."""
    spec = pod.get("spec") or {}
    names = [c.get("name", "") for c in spec.get("containers") or []]
    init = [c.get("name", "") for c in spec.get("initContainers") or []]
    debug = [c.get("name", "") for c in spec.get("ephemeralContainers") or []]
    name = pod["metadata"]["name"]
    if wanted:
        if wanted not in names + init + debug:
            raise bad_request(f"container {wanted} is not valid for pod {name}")
        return wanted
    default = (pod["metadata"].get("annotations") or {}).get(
        "kubectl.kubernetes.io/default-container")
    if default in names:
        return str(default)
    if len(names) == 1:
        return str(names[0])
    raise bad_request(f"a container name must be specified for pod {name}, choose one of: "
                      f"[{' '.join(names)}]")


def kubelet_address(node: JsonObj) -> tuple[str, int]:
    status = node.get("status") or {}
    addresses = status.get("addresses") or []
    ip = next((a.get("address") for a in addresses if a.get("type") == "InternalIP"), None)
    ip = ip or next((a.get("address") for a in addresses), None)
    if not ip:
        raise StatusError(503, "ServiceUnavailable",
                       f"node {node['metadata']['name']} has no address to reach its kubelet")
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get(
        "Port", DEFAULT_KUBELET_PORT)
    return str(ip), int(port)


async def _pod_and_base(state: ServerState, target: Target) -> tuple[JsonObj, str]:
    """The pod and the base URL of the kubelet of the node it is bound to."""
    assert target.name is not None
    pod = await state.storage.get(target.kind, target.namespace, target.name)
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise bad_request(f"pod {target.name} does not have a host assigned")
    nodes = lookup("", "nodes")
    assert nodes is not None
    ip, port = kubelet_address(await state.storage.get(nodes, None, node_name))
    host = f"[{ip}]" if ":" in ip else ip
    return pod, f"https://{host}:{port}"


async def _target(state: ServerState, scope: Scope) -> tuple[str, str]:
    """(kubelet base URL, container) for the request's pod."""
    pod, base = await _pod_and_base(state, scope.target)
    return base, pick_container(pod, scope.query.get("container"))


def _session(state: ServerState) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(ssl=state.kubelet_ssl if state.kubelet_ssl else False)
    return aiohttp.ClientSession(connector=connector,
                                 timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))


async def logs(state: ServerState, scope: Scope, request: web.Request) -> web.StreamResponse:
    base, container = await _target(state, scope)
    t = scope.target
    query = {k: scope.query[k] for k in LOG_PARAMS if k in scope.query}
    url = f"{base}/containerLogs/{_segments(t.namespace, t.name, container)}?{urlencode(query)}"
    async with _session(state) as session:
        try:
            upstream = await session.get(url)
        except (aiohttp.ClientError, OSError) as err:
            raise StatusError(502, "InternalError", f"Get \"{url}\": {err}") from None
        async with upstream:
            if upstream.status != 200:
                text = (await upstream.text())[:2000]
                raise StatusError(upstream.status if upstream.status < 600 else 502,
                               "BadRequest" if upstream.status == 400 else "InternalError",
                               text or f"kubelet answered {upstream.status}")
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (ConnectionResetError, aiohttp.ClientError):
                pass
            return response


async def stream(state: ServerState, scope: Scope, request: web.Request) -> web.StreamResponse:
    """exec/attach: WebSocket to ``/<exec|attach>/<ns>/<pod>/<container>`` on the kubelet."""
    pod, base = await _pod_and_base(state, scope.target)
    container = pick_container(pod, scope.query.get("container"))
    # before the protocol check (the running check and admission webhooks): kubectl retries a
    # refused WebSocket with SPDY, and the user must see why the stream cannot open, not that
    # SPDY is unsupported
    streams.ensure_running(pod, container, scope.target.subresource or "exec")
    await webhooks.review_connect(state, scope, webhooks.connect_options(scope, container))
    _require_websocket(request)
    t = scope.target
    params = [("command", c) for c in scope.query.getall("command", [])]
    params += [(k, scope.query[k]) for k in STREAM_PARAMS if k in scope.query]
    url = (f"{base}/{_segments(t.subresource, t.namespace, t.name, container)}"
           f"?{urlencode(params)}")
    return await _websocket_proxy(state, request, url)


def _segments(*parts: str | None) -> str:
    """URL path segments for the kubelet, each percent-encoded: names come from the request
    path (decoded), and a ``/``, ``?`` or ``#`` in one must never address something else."""
    return "/".join(quote(p or "", safe="") for p in parts)


def _require_websocket(request: web.Request) -> None:
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise bad_request("Upgrade request required (only WebSocket streams are supported; "
                          "raw SPDY is not)")


async def _websocket_proxy(state: ServerState, request: web.Request, url: str
                           ) -> web.StreamResponse:
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
               if p.strip()] or list(WS_PROTOCOLS)
    async with _session(state) as session:
        try:
            upstream = await session.ws_connect(url, protocols=offered, max_msg_size=0,
                                                autoping=True)
        except (aiohttp.ClientError, OSError) as err:
            raise StatusError(502, "InternalError", f"error dialing kubelet: {err}") from None
        async with upstream:
            chosen = upstream.protocol
            client = web.WebSocketResponse(protocols=[chosen] if chosen else (), max_msg_size=0)
            await client.prepare(request)
            await _relay(client, upstream)
            await client.close()
            return client


async def _relay(client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse
                 ) -> None:
    async def down() -> None:
        async for msg in upstream:
            if msg.type == aiohttp.WSMsgType.BINARY:
                await client.send_bytes(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                await client.send_str(msg.data)
            else:
                break

    async def up() -> None:
        async for msg in client:
            if msg.type == aiohttp.WSMsgType.BINARY:
                await upstream.send_bytes(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                await upstream.send_str(msg.data)
            else:
                break

    tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
    # either side closing ends the session: the kubelet finished, or the client went away
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
