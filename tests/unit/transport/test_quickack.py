"""The SSH transport's TCP socket: no Nagle on our side, immediate ACKs (no delayed-ACK stalls)."""

from __future__ import annotations

import socket
import threading

from kboot.transport.ssh import _QuickAckSocket


def test_quickack_socket_receives_and_rearms_quickack() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"hello")

    thread = threading.Thread(target=serve)
    thread.start()
    plain = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock = _QuickAckSocket(plain.family, plain.type, plain.proto, fileno=plain.detach())
    sock.settimeout(5)
    try:
        assert sock.recv(5) == b"hello"
        if hasattr(socket, "TCP_QUICKACK"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 1
    finally:
        sock.close()
        thread.join()
        server.close()
