"""The kubelet's HTTPS API, as the apiserver proxies ``pods/log`` and ``pods/exec`` to it.

Routes (upstream's paths): ``GET /containerLogs/{ns}/{pod}/{container}`` (text/plain, chunked
while following), ``GET|POST /exec/{ns}/{pod}/{container}`` and ``/attach/…`` (WebSocket
``v5``/``v4.channel.k8s.io``), ``GET|POST /portForward/{ns}/{pod}`` (:mod:`.portforward`),
``GET /metrics`` (port-forward counters), ``GET /healthz``. TLS with the node's serving certificate;
clients must present a certificate signed by the cluster CA **and** belong to group
``system:masters`` (the apiserver's kubelet-client certificate) — nothing else is authorized.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from kboot.controlplane.errors import ControlPlaneError
from kboot.controlplane.kubelet import attachstream, execstream, logs, portforward
from kboot.controlplane.portforward.stats import Stats

log = logging.getLogger(__name__)
AUTHORIZED_GROUP = "system:masters"
# the metrics server's scrape identity may read resource usage, nothing else
METRICS_GROUP = "system:kboot-metrics"
METRICS_PATHS = frozenset({"/metrics/resource"})


@dataclass(frozen=True)
class ContainerRef:
    """Where a named container of a pod lives on this node right now."""

    container_id: str
    log_path: Path  # current instance's log file
    previous_log_path: Path | None
    running: bool


class Containers(Protocol):
    """How the server finds containers (implemented by the Kubelet)."""

    async def find_container(self, namespace: str, pod: str, container: str
                             ) -> ContainerRef | None: ...

    async def is_running(self, container_id: str) -> bool: ...

    async def resource_metrics(self) -> str: ...  # /metrics/resource (resourcemetrics.py)

    async def pod_netns(self, namespace: str, pod: str) -> str | None: ...

    async def attach_url(self, container_id: str, *, stdin: bool, tty: bool, stdout: bool,
                         stderr: bool) -> str: ...  # raises ControlPlaneError with the reason


@dataclass(frozen=True)
class ServerConfig:
    ctr: str = "ctr"
    containerd_address: str = "/run/containerd/containerd.sock"
    allow_plain_http: bool = False  # tests only: no TLS means no client identity at all


def ssl_context(cert: str, key: str, client_ca: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=client_ca)
    ctx.load_cert_chain(cert, key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _groups(peercert: Any) -> list[str]:
    subject = (peercert or {}).get("subject") or ()
    return [value for rdn in subject for key, value in rdn if key == "organizationName"]


def authorizer(*, allow_plain_http: bool) -> Any:
    """Middleware admitting only system:masters client certificates (and /healthz)."""

    @web.middleware
    async def authorize(request: web.Request, handler: Any) -> web.StreamResponse:
        transport = request.transport
        tls = transport is not None and transport.get_extra_info("sslcontext") is not None
        peercert = transport.get_extra_info("peercert") if tls and transport else None
        groups = _groups(peercert)
        allowed = AUTHORIZED_GROUP in groups or (allow_plain_http and not tls) or (
            METRICS_GROUP in groups and request.path in METRICS_PATHS)
        if request.path != "/healthz" and not allowed:
            return web.Response(status=403,
                                text="Forbidden: only the apiserver may use the kubelet\n")
        return await handler(request)  # type: ignore[no-any-return]

    return authorize


def _bool(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


def _int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    return int(value) if value not in (None, "") else None


class KubeletServer:
    def __init__(self, containers: Containers, config: ServerConfig) -> None:
        self.containers, self.config = containers, config
        self.portforward_stats = Stats()

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[authorizer(allow_plain_http=self.config.allow_plain_http)])
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", self.container_logs)
        for verb, handler in (("exec", self.exec), ("attach", self.attach)):
            app.router.add_route("GET", f"/{verb}/{{ns}}/{{pod}}/{{container}}", handler)
            app.router.add_route("POST", f"/{verb}/{{ns}}/{{pod}}/{{container}}", handler)
        for method in ("GET", "POST"):
            app.router.add_route(method, "/portForward/{ns}/{pod}", self.port_forward)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/metrics/resource", self.resource_metrics)
        return app

    async def port_forward(self, request: web.Request) -> web.StreamResponse:
        return await portforward.handle(request, self.containers, self.portforward_stats)

    async def metrics(self, _request: web.Request) -> web.Response:
        return web.Response(text=self.portforward_stats.render("kubelet"),
                            content_type="text/plain")

    async def resource_metrics(self, _request: web.Request) -> web.Response:
        return web.Response(text=await self.containers.resource_metrics(),
                            content_type="text/plain")

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _find(self, request: web.Request) -> ContainerRef:
        m = request.match_info
        ref = await self.containers.find_container(m["ns"], m["pod"], m["container"])
        if ref is None:
            raise web.HTTPNotFound(text=f"container {m['container']} of pod {m['ns']}/{m['pod']}"
                                        " not found on this node\n")
        return ref

    async def container_logs(self, request: web.Request) -> web.StreamResponse:
        ref = await self._find(request)
        since = request.query.get("sinceSeconds")
        opts = logs.LogOptions(
            follow=_bool(request, "follow"), tail_lines=_int(request, "tailLines"),
            since_seconds=float(since) if since else None,
            since_time=request.query.get("sinceTime") or None,
            timestamps=_bool(request, "timestamps"), limit_bytes=_int(request, "limitBytes"),
            previous=_bool(request, "previous"))
        path = ref.log_path
        if opts.previous:
            if ref.previous_log_path is None:
                raise web.HTTPBadRequest(text="previous terminated container not found\n")
            path = ref.previous_log_path
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        if opts.follow:
            resp.enable_chunked_encoding()
        await resp.prepare(request)

        async def running() -> bool:
            return not opts.previous and await self.containers.is_running(ref.container_id)

        async for chunk in logs.stream_log(path, opts, running=running, now=time.time()):
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    async def exec(self, request: web.Request) -> web.StreamResponse:
        ref = await self._find(request)
        command = tuple(request.query.getall("command", []))
        if not command:
            raise web.HTTPBadRequest(text="you must specify at least one command\n")
        tty = _bool(request, "tty")
        req = execstream.ExecRequest(
            container_id=ref.container_id, command=command,
            stdin=_bool(request, "stdin"), stdout=_bool(request, "stdout"),
            stderr=_bool(request, "stderr") and not tty, tty=tty)
        ws = web.WebSocketResponse(protocols=execstream.PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        await self._run_exec(ws, req)
        return ws

    async def attach(self, request: web.Request) -> web.StreamResponse:
        """Attach to the container's own stdio through the runtime (:mod:`.attachstream`)."""
        ref = await self._find(request)
        name = request.match_info["container"]
        if not ref.running:
            raise web.HTTPBadRequest(text=f"container {name} is not running\n")
        tty = _bool(request, "tty")
        try:
            url = await self.containers.attach_url(
                ref.container_id, stdin=_bool(request, "stdin"), tty=tty,
                stdout=_bool(request, "stdout"), stderr=_bool(request, "stderr") and not tty)
        except ControlPlaneError as err:
            raise web.HTTPBadRequest(text=f"cannot attach to container {name}: {err}\n") from None
        ws = web.WebSocketResponse(protocols=execstream.PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        await attachstream.relay(ws, url)
        await ws.close()
        return ws

    async def _run_exec(self, ws: web.WebSocketResponse, req: execstream.ExecRequest) -> None:
        async def send(frame: bytes) -> None:
            await ws.send_bytes(frame)

        session = execstream.ExecSession(req, send)
        argv = execstream.ctr_command(self.config.ctr, self.config.containerd_address, req)
        size, early, closed = await _initial_size(ws) if req.tty else (None, [], False)
        if closed:
            await ws.close()
            return
        try:
            await session.start(argv, size)
        except OSError as exc:
            await ws.send_bytes(execstream.error_frame(str(exc)))
            await ws.close()
            return
        for frame in early:
            await session.on_frame(frame)
        reader = asyncio.create_task(self._read_frames(ws, session))
        try:
            code = await session.wait()
        except asyncio.CancelledError:  # the kubelet is stopping: the command's ctr ends first
            reader.cancel()
            await session.end()
            raise
        reader.cancel()
        if code:
            log.info("exec %s in container %s exited %d%s", list(req.command),
                     req.container_id[:12], code, f" (stderr not streamed: "
                     f"{session.unsent_stderr.decode(errors='replace')!r})"
                     if session.unsent_stderr else "")
        with contextlib.suppress(Exception):
            await ws.send_bytes(execstream.status_frame(code, req.command))
        await ws.close()

    async def _read_frames(self, ws: web.WebSocketResponse,
                           session: execstream.ExecSession) -> None:
        async for msg in ws:
            data = attachstream.frame_bytes(msg)
            if data is not None:
                await session.on_frame(data)
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        session.close_stdin()  # the client went away: give the command a moment, then kill it
        await asyncio.sleep(1.0)
        session.kill()


async def _initial_size(ws: web.WebSocketResponse, wait: float = 5.0
                        ) -> tuple[tuple[int, int] | None, list[bytes], bool]:
    """For a tty exec: the terminal size kubectl sends right after connecting (up to *wait*
    seconds), the frames that came before it, and whether the client already went away. The
    wait ends as soon as the size arrives; its bound only matters for clients that send none
    (1 s was too short through the apiserver's relay on a loaded machine: the command started
    at 0x0 and `stty size` failed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    early: list[bytes] = []
    while (left := deadline - loop.time()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            break
        data = attachstream.frame_bytes(msg)
        if data is None:
            return None, early, True
        if data[:1] == bytes([execstream.RESIZE]):
            return execstream.parse_size(data[1:]), early, False
        early.append(data)
    return None, early, False
