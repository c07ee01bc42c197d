"""Connect to ``localhost:PORT`` inside a pod's network namespace, as upstream's kubelet does
(so a server listening only on the pod's loopback is reachable too).

A socket belongs to the network namespace it was *created* in, whatever thread later uses it.
So a short-lived thread enters the pod's namespace (``setns(2)``; the kubelet runs as root),
creates the socket and ends — its namespace change dies with it, no pooled thread is ever
left in a pod's namespace, and the event loop never blocks. The connect itself runs on the
event loop. An empty namespace path means the kubelet's own namespace (the fake runtime).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading

from kboot.controlplane.errors import ControlPlaneError

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class DialError(ControlPlaneError):
    """Nothing accepted the connection inside the pod (the message goes to the client)."""


def _socket_in(netns: str, family: int) -> socket.socket:
    fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {netns}: {os.strerror(err)}")
    finally:
        os.close(fd)
    return socket.socket(family, socket.SOCK_STREAM)


async def socket_in(netns: str, family: int) -> socket.socket:
    """A new TCP socket of ``family`` in the network namespace at ``netns``."""
    if not netns:
        return socket.socket(family, socket.SOCK_STREAM)
    loop = asyncio.get_running_loop()
    result: asyncio.Future[socket.socket] = loop.create_future()

    def run() -> None:  # a fresh thread: its namespace never leaks to other work
        try:
            sock = _socket_in(netns, family)
        except OSError as err:
            loop.call_soon_threadsafe(_settle, result, None, err)
            return
        loop.call_soon_threadsafe(_settle, result, sock, None)

    threading.Thread(target=run, name="kboot-netns", daemon=True).start()
    return await result


def _settle(fut: asyncio.Future[socket.socket], sock: socket.socket | None,
            err: OSError | None) -> None:
    if fut.cancelled():
        if sock is not None:
            sock.close()
    elif sock is not None:
        fut.set_result(sock)
    else:
        fut.set_exception(err or OSError("no socket"))


async def connect(netns: str, port: int, *, label: str
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Streams to ``localhost:port`` in ``netns`` (IPv4 first, then IPv6, like upstream)."""
    loop, failures = asyncio.get_running_loop(), []
    for family, host, name in ((socket.AF_INET, "127.0.0.1", "IPv4"),
                               (socket.AF_INET6, "::1", "IPv6")):
        try:
            sock = await socket_in(netns, family)
        except OSError as err:
            raise DialError(f"cannot enter the network namespace of {label}: {err}") from None
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, (host, port))
            return await asyncio.open_connection(sock=sock, limit=1 << 18)
        except OSError as err:
            sock.close()
            reason = os.strerror(err.errno).lower() if err.errno else str(err)
            failures.append(f"{name}: dial {host}:{port}: connect: {reason}")
    raise DialError(f"failed to connect to localhost:{port} inside {label}: "
                    + "; ".join(failures))
