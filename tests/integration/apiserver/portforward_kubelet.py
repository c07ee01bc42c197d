"""kboot's real kubelet HTTPS server (``KubeletServer``) for port-forward tests, over a fake pod
table: a listed pod's network namespace is the test process's own (path ""), so a forwarded
``localhost:PORT`` reaches servers the test starts on 127.0.0.1 — the real apiserver, kubelet
server, SPDY/WebSocket code and kubectl, without containerd.

Also here: :func:`local_servers`, an HTTP server (``GET /n`` answers ``hello n``, ``GET
/big?n=BYTES`` answers that many bytes) and two TCP echo servers, all on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiohttp import web

from kboot.controlplane.kubelet.server import ContainerRef, KubeletServer, ServerConfig
from kboot.pki import CertSpec, issue, save_pair
from tests.fixtures.apiserver import KUBECTL, ApiServer, Identity
from tests.fixtures.etcd import free_port


@dataclass
class PodTable:
    """The kubelet's view: which pods run here (their network namespace is ours)."""

    running: set[str] = field(default_factory=set)  # "ns/name"

    async def find_container(self, namespace: str, pod: str, container: str
                             ) -> ContainerRef | None:
        return None

    async def is_running(self, container_id: str) -> bool:
        return False

    async def pod_netns(self, namespace: str, pod: str) -> str | None:
        return "" if f"{namespace}/{pod}" in self.running else None


@dataclass
class Kubelet:
    port: int
    pods: PodTable
    server: KubeletServer


@contextmanager
def run_kubelet(api: ApiServer, workdir: Path) -> Iterator[Kubelet]:
    """Serve KubeletServer on 127.0.0.1 (TLS from the apiserver's CA) in a background thread."""
    pair = issue(api.ca, CertSpec("pf-kubelet", ip_addresses=("127.0.0.1",), server=True))
    cert, key = save_pair(pair, workdir, "pf-kubelet")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(api.ca_file))
    ctx.load_cert_chain(cert, key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    pods = PodTable()
    server = KubeletServer(pods, ServerConfig())
    kubelet = Kubelet(free_port(), pods, server)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(server.app(), shutdown_timeout=2)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", kubelet.port,
                                        ssl_context=ctx).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield kubelet
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/big?n="):
            body = b"x" * int(self.path.split("=", 1)[1])
        else:
            body = f"hello {self.path.lstrip('/')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@dataclass
class LocalServers:
    http_port: int
    echo_ports: tuple[int, int]
    closed_port: int


def _echo(listener: socket.socket) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return

        def serve(c: socket.socket = conn) -> None:
            with c:
                while data := c.recv(65536):
                    c.sendall(data)

        threading.Thread(target=serve, daemon=True).start()


@contextmanager
def local_servers() -> Iterator[LocalServers]:
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    http.daemon_threads = True
    echoes = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    threads = [threading.Thread(target=http.serve_forever, daemon=True)]
    threads += [threading.Thread(target=_echo, args=(e,), daemon=True) for e in echoes]
    for t in threads:
        t.start()
    try:
        yield LocalServers(http.server_address[1],
                           (echoes[0].getsockname()[1], echoes[1].getsockname()[1]),
                           free_port())
    finally:
        http.shutdown()
        http.server_close()
        for echo in echoes:
            echo.close()


MODES = {"websocket": {}, "spdy": {"KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}}


@contextmanager
def kubectl_forward(server: ApiServer, ns: str, target: str, remote: int | str, mode: str,
             identity: Identity | None = None) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """``kubectl port-forward`` to a random local port: (local port, the process)."""
    home = server.workdir / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin"), "HOME": str(home), **MODES[mode]}
    config = (identity or server.admin).kubeconfig
    proc = subprocess.Popen([KUBECTL, "--kubeconfig", str(config), "port-forward", "-n", ns,
                             target, f"0:{remote}",
                             "--address", "127.0.0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
        assert found, f"kubectl said {line!r}; stderr: {proc.stderr.read() if proc.stderr else ''}"
        yield int(found.group(1)), proc
    finally:
        proc.terminate()
        proc.wait(10)


def http_get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()
