"""``kubectl port-forward`` into a real pod (containerd, CNI netns) through apiserver and kubelet.

The pod's busybox ``httpd`` listens on the pod's *loopback* only, so an answer proves the
kubelet dialed inside the pod's network namespace (the pod IP would not reach it).
"""

from __future__ import annotations

import socket
import ssl
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fixtures.apiserver import kubeconfig_data
from tests.integration.apiserver.portforward_kubelet import MODES, http_get, kubectl_forward
from tests.integration.apiserver.python_portforward import check_http, check_raw, core_api
from tests.integration.kubelet.cluster import NODE_NAME, Cluster, one_node_cluster, pod

pytestmark = pytest.mark.integration
HTTPD = ("mkdir -p /www && echo -n hello > /www/index.html && "
         "exec httpd -f -p 127.0.0.1:8080 -h /www")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with one_node_cluster(slot=27) as c:  # a slot of its own: other modules may run at once
        yield c


@pytest.fixture(scope="module")
def web(cluster: Cluster) -> str:
    cluster.apply(pod("pf-web", HTTPD))
    cluster.wait_running("pf-web")
    return "pf-web"


@pytest.mark.parametrize("mode", sorted(MODES))
def test_forwards_into_the_pods_loopback(cluster: Cluster, web: str, mode: str) -> None:
    with kubectl_forward(cluster.server, "default", f"pod/{web}", 8080, mode) as (port, _):
        for _ in range(100):
            assert http_get(port, "/index.html") == (200, b"hello")
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda _: http_get(port, "/index.html"), range(20)))
        assert answers == [(200, b"hello")] * 20


def test_python_client_against_a_real_pod(cluster: Cluster, web: str) -> None:
    """kubernetes-client/python's upstream portforward checks (python_portforward.py)."""
    cluster.apply(pod("pf-echo", "nc -ll -p 1234 -e cat & nc -ll -p 1235 -e cat & wait",
                      container={"readinessProbe": {"tcpSocket": {"port": 1235},
                                                    "periodSeconds": 1}}))
    cluster.wait("pod", "pf-echo", lambda p: any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (p.get("status") or {}).get("conditions") or []))
    api = core_api(kubeconfig_data(cluster.server))
    check_raw(api, "pf-echo", "default", (1234, 1235), 1236, rounds=3)
    assert check_http(api, web, "default", 8080) == (200, "hello")


def test_closed_port_and_finished_pod(cluster: Cluster, web: str) -> None:
    errors_before = _stream_errors(_kubelet_metrics(cluster))
    with kubectl_forward(cluster.server, "default", f"pod/{web}", 9999, "spdy") as (port, proc):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert sock.recv(100) == b""
        assert proc.wait(30) != 0
        assert proc.stderr is not None
        err = proc.stderr.read()
    assert f"an error occurred forwarding {port} -> 9999" in err
    assert "inside the network namespace of pod default/pf-web" in err
    assert "connection refused" in err
    cluster.apply(pod("pf-done", "echo done", restartPolicy="Never"))
    cluster.wait("pod", "pf-done", lambda p: p.get("status", {}).get("phase") == "Succeeded")
    done = cluster.kubectl("port-forward", "pod/pf-done", "0:8080", timeout=30)
    assert done.returncode != 0 and "not running" in done.stderr, done.stderr
    # the kubelet and apiserver still serve
    with kubectl_forward(cluster.server, "default", f"pod/{web}", 8080, "websocket") as (p, _):
        assert http_get(p, "/index.html") == (200, b"hello")
    metrics = _kubelet_metrics(cluster)
    assert _stream_errors(metrics) == errors_before + 1
    assert 'kubelet_portforward_sessions_total{protocol="spdy"}' in metrics
    assert 'kubelet_portforward_sessions{protocol="websocket-spdy"} 0' in metrics


def _stream_errors(metrics: str) -> int:
    line = next(x for x in metrics.splitlines()
                if x.startswith("kubelet_portforward_stream_errors_total "))
    return int(line.split()[1])


def _kubelet_metrics(cluster: Cluster) -> str:
    """The kubelet's /metrics, read with the apiserver's kubelet-client identity."""
    node = cluster.get("node", NODE_NAME)
    assert node is not None
    port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    ctx = ssl.create_default_context(cafile=str(cluster.server.ca_file))
    ctx.load_cert_chain(str(cluster.server.kubelet_client_cert_file),
                        str(cluster.server.kubelet_client_key_file))
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/metrics", context=ctx,
                                timeout=30) as resp:
        return str(resp.read().decode())
