"""API aggregation with the real kubectl: kboot's metrics server runs in the test process
behind an APIService, and the apiserver proxies ``metrics.k8s.io`` to it.

The metrics server's data comes from two canned ``/metrics/resource`` scrapes (the kubelet side
has its own tests); what is proven here is the aggregation path — local APIServices, the
availability check, discovery, proxying with requestheader identity over verified TLS — and
that ``kubectl top`` reads the result.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from kboot.controlplane.metricsserver.component import registration
from kboot.controlplane.metricsserver.server import MetricsApi, serving_context
from kboot.controlplane.metricsserver.usage import UsageStore, parse
from kboot.pki import CertSpec, issue
from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.fixtures.etcd import free_port
from tests.integration.apiserver.http import call
from tests.waiting import wait_until

SCRAPE_1 = """
container_cpu_usage_seconds_total{container="app",namespace="default",pod="web-1"} 10 1000000
container_memory_working_set_bytes{container="app",namespace="default",pod="web-1"} 52428800 1000000
node_cpu_usage_seconds_total 100 1000000
node_memory_working_set_bytes 1073741824 1000000
"""
SCRAPE_2 = """
container_cpu_usage_seconds_total{container="app",namespace="default",pod="web-1"} 12.5 1010000
container_memory_working_set_bytes{container="app",namespace="default",pod="web-1"} 62914560 1010000
node_cpu_usage_seconds_total 105 1010000
node_memory_working_set_bytes 2147483648 1010000
"""
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
NODE_STATUS = {"status": {"capacity": {"cpu": "2", "memory": "4Gi"},
                          "allocatable": {"cpu": "2", "memory": "4Gi"}}}


@dataclass
class Backend:
    port: int
    seen_users: list[str]


@pytest.fixture
def apiserver() -> Iterator[ApiServer]:
    """A private server that probes APIServices every 0.5 s (the default is 5 s)."""
    with start_apiserver(extra_args=["--apiservice-probe-interval=0.5"]) as server:
        yield server


@pytest.fixture
def metrics_backend(apiserver: ApiServer) -> Iterator[Backend]:
    """kboot's metrics API on 127.0.0.1 with a serving certificate from the cluster CA."""
    pair = issue(apiserver.ca, CertSpec("metrics-server",
                                        dns_names=("metrics-server.kube-system.svc",),
                                        server=True))
    store = UsageStore()
    store.record("n1", parse(SCRAPE_1, 0))
    store.record("n1", parse(SCRAPE_2, 0))
    seen: list[str] = []
    api = MetricsApi(store, ["kube-apiserver-kubelet-client"])
    app = api.app()

    @web.middleware
    async def record(request: web.Request, handler):  # type: ignore[no-untyped-def]
        seen.append(request.headers.get("X-Remote-User", ""))
        return await handler(request)

    app.middlewares.insert(0, record)
    port = free_port()
    loop = asyncio.new_event_loop()
    ctx = serving_context(pair.cert_pem(), pair.key_pem(), apiserver.ca_file.read_text(),
                          str(apiserver.workdir))
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield Backend(port, seen)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def _apply(server: ApiServer, objs: list[dict[str, object]]) -> None:
    for obj in objs:
        result = server.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(obj))
        assert result.returncode == 0, result.stderr


def _available(server: ApiServer, name: str) -> str:
    reply = call(server, "GET", f"/apis/apiregistration.k8s.io/v1/apiservices/{name}")
    conditions = (reply.body.get("status") or {}).get("conditions") or []
    return next((f"{c['status']}/{c['reason']}" for c in conditions
                 if c["type"] == "Available"), "")


def test_local_apiservices_and_metrics_through_aggregation(apiserver: ApiServer,
                                                           metrics_backend: Backend) -> None:
    listed = apiserver.kubectl("get", "apiservices")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line.split()[1:3] for line in listed.stdout.splitlines()[1:]}
    assert lines["v1."] == ["Local", "True"]
    assert lines["v1.apps"] == ["Local", "True"]
    assert lines["v2.autoscaling"] == ["Local", "True"]

    cm = call(apiserver, "GET", "/api/v1/namespaces/kube-system/configmaps/"
              "extension-apiserver-authentication").body
    assert json.loads(cm["data"]["requestheader-allowed-names"]) == [
        "kube-apiserver-kubelet-client"]
    assert "BEGIN CERTIFICATE" in cm["data"]["requestheader-client-ca-file"]

    _apply(apiserver, [NODE, *registration("127.0.0.1", metrics_backend.port,
                                           apiserver.ca_file.read_bytes())])
    status = apiserver.kubectl("patch", "node", "n1", "--subresource=status", "--type=merge",
                               "-p", json.dumps(NODE_STATUS))
    assert status.returncode == 0, status.stderr
    wait_until("the metrics APIService to become available",
               lambda: _available(apiserver, "v1beta1.metrics.k8s.io") == "True/Passed",
               diagnose=apiserver.log)

    raw = apiserver.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes")
    assert raw.returncode == 0, raw.stderr
    nodes = json.loads(raw.stdout)
    assert nodes["kind"] == "NodeMetricsList"
    assert nodes["items"][0]["usage"] == {"cpu": "500000000n", "memory": "2097152Ki"}
    assert "kubernetes-admin" in metrics_backend.seen_users  # the caller's identity, proxied

    top = apiserver.kubectl("top", "nodes")
    assert top.returncode == 0, top.stderr
    assert top.stdout.split("\n")[1].split()[:5] == ["n1", "500m", "25%", "2048Mi", "50%"]
    pods = apiserver.kubectl("top", "pods", "-A")
    assert pods.returncode == 0, pods.stderr
    assert pods.stdout.split("\n")[1].split() == ["default", "web-1", "250m", "60Mi"]

    groups = call(apiserver, "GET", "/apis").body
    assert "metrics.k8s.io" in [g["name"] for g in groups["groups"]]


def test_aggregated_requests_are_authorized_and_unreachable_backends_reported(
        apiserver: ApiServer, metrics_backend: Backend) -> None:
    _apply(apiserver, registration("127.0.0.1", metrics_backend.port,
                                   apiserver.ca_file.read_bytes()))
    wait_until("the metrics APIService to become available",
               lambda: _available(apiserver, "v1beta1.metrics.k8s.io") == "True/Passed")
    nobody = apiserver.identity("nobody")
    denied = apiserver.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes",
                               identity=nobody)
    assert denied.returncode != 0
    assert 'cannot list resource "nodes" in API group "metrics.k8s.io"' in denied.stderr

    assert apiserver.kubectl("delete", "endpoints", "-n", "kube-system",
                             "metrics-server").returncode == 0
    wait_until("the APIService to report the missing endpoints",
               lambda: _available(apiserver, "v1beta1.metrics.k8s.io")
               == "False/MissingEndpoints")
    listed = apiserver.kubectl("get", "apiservices", "v1beta1.metrics.k8s.io")
    assert "False (MissingEndpoints)" in listed.stdout
    reply = call(apiserver, "GET", "/apis/metrics.k8s.io/v1beta1/nodes")
    assert reply.status == 503
    assert "metrics-server" in reply.body["message"]


DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "namespace": "default"},
              "spec": {"selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


def test_kubectl_autoscale_and_get_hpa(apiserver: ApiServer) -> None:
    _apply(apiserver, [DEPLOYMENT])
    made = apiserver.kubectl("autoscale", "deployment/web", "--min=2", "--max=5",
                             "--cpu-percent=40")
    assert made.returncode == 0, made.stderr
    listed = apiserver.kubectl("get", "hpa", "web")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split("\n")[1].split()[:5] == [
        "web", "Deployment/web", "cpu:", "<unknown>/40%", "2"]
    v1 = call(apiserver, "GET", "/apis/autoscaling/v1/namespaces/default/"
              "horizontalpodautoscalers/web").body
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 40
    bad = apiserver.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                 "minReplicas": 3, "maxReplicas": 2}}))
    assert bad.returncode != 0
    assert "spec.maxReplicas" in bad.stderr and "minReplicas" in bad.stderr
