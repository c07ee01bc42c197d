"""``kubectl logs`` and ``kubectl exec`` through kboot-apiserver to a (fake) kubelet over mTLS."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.fixtures.apiserver import ApiServer
from tests.integration.apiserver.fake_kubelet import FakeKubelet, run_fake_kubelet
from tests.integration.apiserver.http import call

pytestmark = pytest.mark.integration


@pytest.fixture
def kubelet(apiserver_sqlite: ApiServer, tmp_path: Path) -> Iterator[FakeKubelet]:
    with run_fake_kubelet(apiserver_sqlite, tmp_path) as fake:
        yield fake


def _node_and_pod(server: ApiServer, kubelet: FakeKubelet, ns: str) -> None:
    node = {"metadata": {"name": f"{ns}-node"},
            "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}}}}
    assert call(server, "POST", "/api/v1/nodes", node).status == 201
    assert call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": ns}}).status == 201
    pod = {"metadata": {"name": "p"},
           "spec": {"nodeName": f"{ns}-node",
                    "containers": [{"name": "main", "image": "busybox"}]}}
    assert call(server, "POST", f"/api/v1/namespaces/{ns}/pods", pod).status == 201


def test_logs_are_proxied(apiserver_sqlite: ApiServer, kubelet: FakeKubelet) -> None:
    server, ns = apiserver_sqlite, "proxy-logs"
    _node_and_pod(server, kubelet, ns)
    out = server.kubectl("logs", "-n", ns, "p", "--tail=2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["line-4", "line-5"]
    follow = server.kubectl("logs", "-n", ns, "p", "-f")
    assert follow.stdout.splitlines()[-2:] == ["follow-1", "follow-2"]
    assert kubelet.requests[0].startswith(f"/containerLogs/{ns}/p/main?")
    assert set(kubelet.client_cns) == {"kube-apiserver-kubelet-client"}


def test_exec_is_proxied(apiserver_sqlite: ApiServer, kubelet: FakeKubelet) -> None:
    server, ns = apiserver_sqlite, "proxy-exec"
    _node_and_pod(server, kubelet, ns)
    out = server.kubectl("exec", "-n", ns, "p", "--", "echo", "hi")
    if out.returncode == 0 and out.stdout == "":
        # kubectl's WebSocket executor rarely loses output when the stream ends right after it
        # (kubernetes/kubernetes#124571; seen once in hundreds of runs here): ask once more
        out = server.kubectl("exec", "-n", ns, "p", "--", "echo", "hi")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "ran: echo hi\n"
    piped = server.kubectl("exec", "-i", "-n", ns, "p", "--", "cat", input="from-stdin\n")
    assert piped.returncode == 0, piped.stderr
    assert "from-stdin" in piped.stdout
    failed = server.kubectl("exec", "-n", ns, "p", "--", "fail")
    assert failed.returncode == 3 and "exit code 3" in failed.stderr


def test_unscheduled_pod_has_no_logs(apiserver_sqlite: ApiServer) -> None:
    server, ns = apiserver_sqlite, "proxy-none"
    assert call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": ns}}).status == 201
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "b"}]}}
    assert call(server, "POST", f"/api/v1/namespaces/{ns}/pods", pod).status == 201
    reply = call(server, "GET", f"/api/v1/namespaces/{ns}/pods/p/log")
    assert reply.status == 400 and "does not have a host assigned" in reply.body["message"]


def test_port_forward_websocket_is_relayed(apiserver_sqlite: ApiServer,
                                           kubelet: FakeKubelet) -> None:
    server, ns = apiserver_sqlite, "proxy-pf"
    _node_and_pod(server, kubelet, ns)
    pod = call(server, "GET", f"/api/v1/namespaces/{ns}/pods/p").body
    pod["status"] = {"phase": "Running"}  # only a Running pod is forwarded to
    assert call(server, "PUT", f"/api/v1/namespaces/{ns}/pods/p/status", pod).status == 200

    async def exchange() -> tuple[str | None, bytes]:
        connector = aiohttp.TCPConnector(ssl=server.ssl_context())
        async with aiohttp.ClientSession(connector=connector) as session, session.ws_connect(
                f"{server.url}/api/v1/namespaces/{ns}/pods/p/portforward?ports=80",
                protocols=["SPDY/3.1+portforward.k8s.io"]) as ws:
            await ws.send_bytes(b"\x80\x03\x00\x01frame")
            reply = await ws.receive(timeout=10)
            return ws.protocol, reply.data

    protocol, data = asyncio.run(exchange())
    assert protocol == "SPDY/3.1+portforward.k8s.io"
    assert data == b"echo:\x80\x03\x00\x01frame"
    assert kubelet.requests[-1].startswith(f"/portForward/{ns}/p")
