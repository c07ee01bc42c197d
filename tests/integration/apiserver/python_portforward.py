"""The logic of kubernetes-client/python's e2e ``test_portforward_raw`` and
``test_portforward_http`` (``kubernetes/e2e_test/test_client.py``), as functions over any pod,
so the integration tests (fake pod table) and the lab e2e run the same checks.

Upstream runs them against a ``python`` image serving ``port_server.py`` (an echo server on
1234 and 1235, from a ConfigMap) and an ``nginx`` image; kboot has no registry yet, so the
callers stand those in with busybox (``nc -ll -e cat``, ``httpd``) or local servers. The steps
and assertions are upstream's: ten sessions, each echoing on two ports, a third port nobody
listens on reading as closed with an error, then the session ending once every socket is closed.
"""

from __future__ import annotations

import select
import socket
import urllib.request
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.stream import portforward

from tests.waiting import wait_until


def core_api(kubeconfig: dict[str, Any]) -> k8s.CoreV1Api:
    """The official client's CoreV1Api for a kubeconfig given as a dict."""
    cfg = k8s.Configuration()
    k8s_config.load_kube_config_from_dict(kubeconfig,  # type: ignore[no-untyped-call]
                                          client_configuration=cfg)
    return k8s.CoreV1Api(k8s.ApiClient(cfg))


def _echo_exchange(socks: dict[socket.socket, bytes]) -> None:
    """Read until every socket got back what was sent on it (upstream's select loop; the
    deadline only bounds a hang)."""
    replies = dict.fromkeys(socks, b"")

    def complete() -> bool:
        assert all(s.fileno() != -1 for s in socks)
        ready, _, _ = select.select(list(socks), [], [], 1)
        for sock in ready:
            data = sock.recv(1024)
            assert data != b"", "Unexpected socket close"
            replies[sock] += data
            assert socks[sock].startswith(replies[sock])
        return all(replies[s] == sent for s, sent in socks.items())

    wait_until("the echoes", complete, interval=0)


def check_raw(api: k8s.CoreV1Api, name: str, namespace: str, echo: tuple[int, int],
              closed: int, rounds: int = 10) -> None:
    """``test_portforward_raw``: ``echo`` ports answer what they get, ``closed`` does not."""
    first, second = echo
    for ix in (str(i + 1).encode() for i in range(rounds)):
        pf = portforward(api.connect_get_namespaced_pod_portforward, name, namespace,
                         ports=f"{first},{second},{closed}")
        assert pf.connected
        a, b = pf.socket(first), pf.socket(second)
        a.setblocking(True)
        b.setblocking(True)
        sent = {a: b"Test " + ix + b" port 1 forwarding", b: b"Test " + ix + b" port 2 forwarding"}
        for sock, data in sent.items():
            sock.sendall(data)
        _echo_exchange(sent)
        assert pf.connected
        dead = pf.socket(closed)
        dead.setblocking(True)
        assert dead.recv(1024) == b""
        assert pf.error(closed) is not None
        dead.close()
        for sock in (a, b):
            assert pf.connected
            again = b"Another test " + ix + b" using fileno " + str(sock.fileno()).encode()
            sock.sendall(again)
            _echo_exchange({sock: again})
            sock.close()
        # upstream sleeps 1 s, then asserts: here the wait is for the condition itself
        wait_until("the session to end once every socket is closed",
                   lambda pf=pf: not pf.connected)
        assert pf.error(first) is None and pf.error(second) is None


def check_http(api: k8s.CoreV1Api, name: str, namespace: str, port: int) -> tuple[int, str]:
    """``test_portforward_http``: urllib with ``socket.create_connection`` patched so that
    ``http://<pod>.<ns>.kubernetes:<port>/`` connects through ``portforward``; the answer."""
    original = socket.create_connection

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        host = address[0].decode() if isinstance(address[0], bytes) else address[0]
        parts = host.split(".")
        if len(parts) != 3 or parts[2] != "kubernetes":
            return original(address, *args, **kwargs)
        pf = portforward(api.connect_get_namespaced_pod_portforward, parts[0], parts[1],
                         ports=str(address[1]))
        return pf.socket(address[1])  # type: ignore[no-any-return]

    socket.create_connection = create_connection  # type: ignore[assignment]
    try:
        with urllib.request.urlopen(f"http://{name}.{namespace}.kubernetes:{port}/",
                                    timeout=60) as response:
            return response.status, response.read().decode()
    finally:
        socket.create_connection = original
