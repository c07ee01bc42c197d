"""``kubectl port-forward`` and the Python client's ``portforward`` through kboot-apiserver to
kboot's kubelet server (fake pod table: the pod's network namespace is ours, see
portforward_kubelet.py), in all three protocols, with the bad inputs of issue 18."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fixtures.apiserver import KUBECTL, ApiServer, kubeconfig_data
from tests.integration.apiserver.http import call
from tests.integration.apiserver.portforward_kubelet import (
    MODES,
    Kubelet,
    LocalServers,
    http_get,
    kubectl_forward,
    local_servers,
    run_kubelet,
)
from tests.integration.apiserver.python_portforward import check_http, check_raw, core_api

pytestmark = pytest.mark.integration


@pytest.fixture
def kubelet(apiserver_sqlite: ApiServer, tmp_path: Path) -> Iterator[Kubelet]:
    with run_kubelet(apiserver_sqlite, tmp_path) as k:
        yield k


@pytest.fixture
def servers() -> Iterator[LocalServers]:
    with local_servers() as s:
        yield s


def _cluster(server: ApiServer, kubelet: Kubelet, ns: str, http_port: int) -> None:
    """A node served by ``kubelet``; a Running pod ``web`` (labels app=web), a Pending pod
    ``idle``; a Service ``web`` (port 80 → http_port) and a Deployment ``web`` selecting it."""
    node = {"metadata": {"name": f"{ns}-node"},
            "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}}}}
    assert call(server, "POST", "/api/v1/nodes", node).status == 201
    assert call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": ns}}).status == 201
    for name, phase in (("web", "Running"), ("idle", "Pending")):
        pod = {"metadata": {"name": name, "labels": {"app": name}},
               "spec": {"nodeName": f"{ns}-node", "containers": [
                   {"name": "main", "image": "busybox",
                    "ports": [{"containerPort": http_port}]}]}}
        made = call(server, "POST", f"/api/v1/namespaces/{ns}/pods", pod)
        assert made.status == 201, made.body
        made.body["status"] = {"phase": phase}
        path = f"/api/v1/namespaces/{ns}/pods/{name}/status"
        assert call(server, "PUT", path, made.body).status == 200
    kubelet.pods.running.add(f"{ns}/web")
    svc = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [
        {"port": 80, "targetPort": http_port}]}}
    assert call(server, "POST", f"/api/v1/namespaces/{ns}/services", svc).status == 201
    deploy = {"metadata": {"name": "web"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "main", "image": "busybox"}]}}}}
    assert call(server, "POST", f"/apis/apps/v1/namespaces/{ns}/deployments",
                deploy).status == 201


@pytest.mark.parametrize("mode", sorted(MODES))
def test_kubectl_port_forward_serves_http(apiserver_sqlite: ApiServer, kubelet: Kubelet,
                                          servers: LocalServers, mode: str) -> None:
    server, ns = apiserver_sqlite, f"pf-{mode}"
    _cluster(server, kubelet, ns, servers.http_port)
    with kubectl_forward(server, ns, "pod/web", servers.http_port, mode) as (port, _):
        for i in range(100):
            assert http_get(port, f"/{i}") == (200, f"hello {i}".encode())
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda i: http_get(port, f"/c{i}"), range(20)))
        assert answers == [(200, f"hello c{i}".encode()) for i in range(20)]
        status, body = http_get(port, "/big?n=3000000")
        assert (status, len(body)) == (200, 3000000)
    for target, remote in (("svc/web", "80"), ("deploy/web", str(servers.http_port))):
        with kubectl_forward(server, ns, target, remote, mode) as (port, _):
            assert http_get(port, "/via") == (200, b"hello via")
    assert _sessions(server, "spdy" if mode == "spdy" else "websocket-spdy") >= 3


@pytest.mark.parametrize("mode", sorted(MODES))
def test_closed_port_is_a_clear_error_and_nothing_hangs(
        apiserver_sqlite: ApiServer, kubelet: Kubelet, servers: LocalServers,
        mode: str) -> None:
    server, ns = apiserver_sqlite, f"pf-closed-{mode}"
    _cluster(server, kubelet, ns, servers.http_port)
    with kubectl_forward(server, ns, "pod/web", servers.closed_port, mode) as (port, proc):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert sock.recv(100) == b""  # closed, not hung
        assert proc.wait(30) != 0  # kubectl 1.32 ends the session on a stream error
        assert proc.stderr is not None
        err = proc.stderr.read()
    assert f"an error occurred forwarding {port} -> {servers.closed_port}" in err
    assert "connection refused" in err.lower()
    assert kubelet.server.portforward_stats.stream_errors >= 1
    assert server.kubectl("get", "pod", "-n", ns, "web").returncode == 0  # still serving


def test_not_running_pod_and_missing_verb_are_clear_errors(
        apiserver_sqlite: ApiServer, kubelet: Kubelet, servers: LocalServers) -> None:
    server, ns = apiserver_sqlite, "pf-refused"
    _cluster(server, kubelet, ns, servers.http_port)
    out = server.kubectl("port-forward", "-n", ns, "pod/idle", "8080:80", timeout=30)
    assert out.returncode != 0
    assert "pod is not running" in out.stderr or "not running" in out.stderr, out.stderr
    viewer = server.identity("viewer")
    role = {"metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}
    binding = {"metadata": {"name": "viewer-reads"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                           "name": "pod-reader"},
               "subjects": [{"kind": "User", "name": "viewer"}]}
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    assert call(server, "POST", f"{rbac}/roles", role).status == 201
    assert call(server, "POST", f"{rbac}/rolebindings", binding).status == 201
    home = server.workdir / "home"
    home.mkdir(exist_ok=True)
    for mode, env in MODES.items():
        denied = subprocess.run(
            [KUBECTL, "--kubeconfig", str(viewer.kubeconfig), "port-forward", "-n", ns,
             "pod/web", f"0:{servers.http_port}"], capture_output=True, text=True, timeout=30,
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(home), **env})
        assert denied.returncode != 0, mode
        assert ('cannot create resource "pods/portforward"' in denied.stderr), denied.stderr
    # a kubelet that does not run the pod refuses it before any upgrade
    kubelet.pods.running.clear()
    gone = server.kubectl("port-forward", "-n", ns, "pod/web", f"0:{servers.http_port}",
                          env=MODES["spdy"], timeout=30)
    assert gone.returncode != 0 and "is not running on this node" in gone.stderr, gone.stderr
    assert server.kubectl("get", "pods", "-n", ns).returncode == 0


def test_python_client_portforward_raw_and_http(apiserver_sqlite: ApiServer, kubelet: Kubelet,
                                                servers: LocalServers) -> None:
    """kubernetes-client/python's e2e ``test_portforward_raw`` and ``test_portforward_http``
    logic (python_portforward.py), local servers standing in for its images."""
    server, ns = apiserver_sqlite, "pf-python"
    _cluster(server, kubelet, ns, servers.http_port)
    api = core_api(kubeconfig_data(server))
    before = _sessions(server, "websocket")
    check_raw(api, "web", ns, servers.echo_ports, servers.closed_port)
    assert check_http(api, "web", ns, servers.http_port) == (200, "hello ")
    assert _sessions(server, "websocket") - before == 11  # 10 raw rounds + 1 http
    assert kubelet.server.portforward_stats.stream_errors == 10  # one closed port per round


def _sessions(server: ApiServer, protocol: str) -> int:
    text = str(call(server, "GET", "/metrics", accept="text/plain").body)
    found = re.search(rf'apiserver_portforward_sessions_total{{protocol="{protocol}"}} (\d+)',
                      text)
    return int(found.group(1)) if found else 0
