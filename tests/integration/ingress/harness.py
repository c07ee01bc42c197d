"""Pieces of the ingress integration tests: backends standing in for pods, a raw HTTP(S) client
that sets Host and SNI independently of the address it connects to, and the controller process
(which runs its own haproxy) with cleanup of leftovers from crashed runs.

Work directories are ``$TMPDIR/kboot-ingress-test-<owner pid>-*``; every haproxy we start has
its config under one, so leftovers are recognisable by command line.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

from tests.fixtures.etcd import _pid_alive, free_port
from tests.waiting import wait_until

PREFIX = "kboot-ingress-test-"
_DIR_RE = re.compile(rf"{PREFIX}(\d+)-")
T = TypeVar("T")


# -- backends ------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"{self.server.name} {self.path}".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def backend(name: str, ip: str) -> Iterator[tuple[str, int]]:
    """An HTTP server on a loopback address (a "pod") answering ``<name> <path>``."""
    server = ThreadingHTTPServer((ip, 0), _Handler)
    server.daemon_threads = True
    server.name = name  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ip, int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


# -- client --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: str
    peer_cert: dict[str, Any] | None = None


def request(port: int, host: str, path: str = "/", *, tls: ssl.SSLContext | None = None,
            timeout: float = 5.0) -> Response:
    """GET ``path`` from 127.0.0.1:port with ``Host: host`` (and SNI ``host`` over TLS)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        sock: socket.socket = tls.wrap_socket(raw, server_hostname=host) if tls else raw
        peer = sock.getpeercert() if isinstance(sock, ssl.SSLSocket) else None
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                     .encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return Response(int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()},
                    body.decode(errors="replace"), peer)


def eventually(fn: Callable[[], T], *, timeout: float = 60.0, interval: float = 0.1) -> T:
    """Call ``fn`` until it returns without an AssertionError/OSError; return its value (on
    timeout, the last failure is raised)."""
    failures: list[Exception] = []

    def attempt() -> tuple[T] | None:
        try:
            return (fn(),)
        except (AssertionError, OSError, ValueError, IndexError) as exc:
            failures[:] = [exc]
            return None

    try:
        return wait_until("a condition", attempt, timeout=timeout, interval=interval)[0]
    except AssertionError:
        if failures:
            raise failures[0] from None
        raise


# -- the controller ------------------------------------------------------------------------

def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


def kill_processes_under(path: str) -> None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and path in _cmdline(int(entry.name)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)


def cleanup_leftovers() -> None:
    """haproxy/controller processes and directories of crashed runs (owner process gone)."""
    for d in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        m = _DIR_RE.match(d.name)
        if m and not _pid_alive(int(m.group(1))):
            kill_processes_under(str(d))
            shutil.rmtree(d, ignore_errors=True)


@dataclass
class Controller:
    workdir: Path
    http_port: int
    https_port: int
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return (self.workdir / "controller.log").read_text(errors="replace")


@contextlib.contextmanager
def run_controller(kubeconfig: Path) -> Iterator[Controller]:
    cleanup_leftovers()
    work = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    http_port, https_port = free_port(), free_port()
    args = [sys.executable, "-m", "kboot.controlplane.ingress", "--kubeconfig", str(kubeconfig),
            "--node-name", "ing1", "--node-ip", "127.0.0.1", "--bind-address", "127.0.0.1",
            "--haproxy-config", str(work / "haproxy.cfg"), "--certs-dir", str(work / "certs"),
            "--http-port", str(http_port), "--https-port", str(https_port),
            "--resync-period", "2", "--haproxy-user", "haproxy"]
    with (work / "controller.log").open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                cwd=str(Path(__file__).resolve().parents[3]))
    controller = Controller(work, http_port, https_port, proc)
    try:
        yield controller
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        kill_processes_under(str(work))
        shutil.rmtree(work, ignore_errors=True)
