"""Local TCP ports forwarded over a host's SSH connection (``direct-tcpip`` channels), for a
workstation that reaches the control planes by SSH only (a bastion, a firewall in front of the
registry ports).

``kboot image push`` then talks HTTPS to ``127.0.0.1:<local port>``; the registry's certificate
names ``127.0.0.1``, so the cluster CA check holds through the tunnel. One thread accepts, two
threads per connection copy bytes; everything stops with :meth:`Tunnel.close`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

import paramiko

from kboot.inventory import Host
from kboot.transport.ssh import SSHTransport

_BUFFER = 1 << 16


class Tunnel:
    """``127.0.0.1:port`` → ``remote`` as seen from ``host`` (over its SSH connection)."""

    def __init__(self, host: Host, remote: tuple[str, int]) -> None:
        self.remote = remote
        self._ssh = SSHTransport(host.name, host.connection)
        self._transport: paramiko.Transport = self._ssh.connect()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._open: set[Any] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name=f"tunnel-{host.name}").start()

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self._server.accept()
            except OSError:
                return  # closed
            try:
                chan = self._transport.open_channel("direct-tcpip", self.remote, peer)
            except (paramiko.SSHException, OSError):
                conn.close()
                continue
            with self._lock:
                self._open.update((conn, chan))
            for src, dst in ((conn, chan), (chan, conn)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: Any, dst: Any) -> None:
        try:
            while data := src.recv(_BUFFER):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for end in (src, dst):
                with contextlib.suppress(OSError):
                    end.close()
                with self._lock:
                    self._open.discard(end)

    def close(self) -> None:
        self._server.close()
        with self._lock:
            ends, self._open = list(self._open), set()
        for end in ends:
            with contextlib.suppress(OSError):
                end.close()
        self._ssh.close()


def reachable(address: str, port: int, *, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``address:port`` opens from here."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False
