"""A fake kubelet for the log/exec proxy tests: the real kubelet's HTTPS paths, canned answers.

It serves ``/containerLogs/<ns>/<pod>/<container>`` (lines ``line-1`` … ``line-5``, honouring
``tailLines``; ``follow=true`` adds ``follow-1``, ``follow-2`` slowly) and WebSocket
``/exec/<ns>/<pod>/<container>`` (``v5``/``v4.channel.k8s.io``): stdout gets
``ran: <command…>``, and stdin echoed back until the client closes it; the command ``fail``
exits 3. ``/portForward/<ns>/<pod>`` (``SPDY/3.1+portforward.k8s.io``) echoes binary frames
prefixed with ``echo:``. Client certificates are required and checked against the cluster
CA, like a kubelet.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from kboot.pki import CertSpec, issue, save_pair
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.etcd import free_port


@dataclass
class FakeKubelet:
    port: int
    requests: list[str] = field(default_factory=list)
    client_cns: list[str] = field(default_factory=list)


def _peer_cn(request: web.Request) -> str:
    cert = request.transport.get_extra_info("peercert") if request.transport else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


def _app(state: FakeKubelet) -> web.Application:
    async def logs(request: web.Request) -> web.StreamResponse:
        state.requests.append(str(request.rel_url))
        state.client_cns.append(_peer_cn(request))
        lines = [f"line-{i}" for i in range(1, 6)]
        tail = request.query.get("tailLines")
        if tail:
            lines = lines[-int(tail):]
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        for line in lines:
            await resp.write(f"{line}\n".encode())
        if request.query.get("follow") == "true":
            for i in (1, 2):
                await asyncio.sleep(0.2)
                await resp.write(f"follow-{i}\n".encode())
        return resp

    async def exec_(request: web.Request) -> web.StreamResponse:
        state.requests.append(str(request.rel_url))
        state.client_cns.append(_peer_cn(request))
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"))
        await ws.prepare(request)
        command = request.query.getall("command", [])
        await ws.send_bytes(b"\x01" + f"ran: {' '.join(command)}\n".encode())
        if request.query.get("stdin") == "true":
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY:
                    break
                if msg.data[:1] == b"\x00":
                    await ws.send_bytes(b"\x01" + msg.data[1:])
                elif msg.data[:2] == b"\xff\x00":
                    break
        if command == ["fail"]:
            status = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                      "message": "command terminated with non-zero exit code",
                      "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}
        else:
            status = {"metadata": {}, "status": "Success"}
        await ws.send_bytes(b"\x03" + json.dumps(status).encode())
        await ws.close()
        return ws

    async def port_forward(request: web.Request) -> web.StreamResponse:
        state.requests.append(str(request.rel_url))
        ws = web.WebSocketResponse(protocols=("SPDY/3.1+portforward.k8s.io",))
        await ws.prepare(request)
        async for msg in ws:  # echo every binary frame back, prefixed
            if msg.type != aiohttp.WSMsgType.BINARY:
                break
            await ws.send_bytes(b"echo:" + msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/portForward/{ns}/{pod}", port_forward)
    app.router.add_get("/containerLogs/{ns}/{pod}/{container}", logs)
    app.router.add_get("/exec/{ns}/{pod}/{container}", exec_)
    app.router.add_get("/attach/{ns}/{pod}/{container}", exec_)
    return app


@contextmanager
def run_fake_kubelet(server: ApiServer, workdir: Path) -> Iterator[FakeKubelet]:
    """Serve a fake kubelet on 127.0.0.1 (TLS from the server's CA) in a background thread."""
    pair = issue(server.ca, CertSpec("fake-kubelet", ip_addresses=("127.0.0.1",), server=True))
    cert, key = save_pair(pair, workdir, "kubelet")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(str(server.ca_file))
    ctx.verify_mode = ssl.CERT_REQUIRED
    state = FakeKubelet(free_port())
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(_app(state))
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", state.port, ssl_context=ctx).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
