"""kboot-proxy on a real node: a ClusterIP and a NodePort Service DNAT to a pod."""

from __future__ import annotations

import subprocess
import urllib.request

import pytest

from tests.integration.kubelet.cluster import Cluster, pod
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def test_clusterip_and_nodeport_reach_the_pod(cluster: Cluster,
                                              proxy: subprocess.Popen[bytes]) -> None:
    cluster.apply(pod("web", "mkdir -p /www && echo via-service > /www/index.html "
                      "&& exec httpd -f -p 8080 -h /www"))
    cluster.apply(pod("client", "sleep 3600"))
    web_ip = cluster.wait_running("web")["status"]["podIP"]
    cluster.wait_running("client")
    cluster.apply({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "web", "namespace": "default"},
                   "spec": {"type": "NodePort", "selector": {"app": "web"},
                            "ports": [{"name": "http", "port": 80, "targetPort": 8080,
                                       "nodePort": 30080}]}})
    cluster.apply({"apiVersion": "v1", "kind": "Endpoints",
                   "metadata": {"name": "web", "namespace": "default"},
                   "subsets": [{"addresses": [{"ip": web_ip}],
                                "ports": [{"name": "http", "port": 8080}]}]})
    svc = cluster.get("service", "web")
    assert svc is not None
    cluster_ip = svc["spec"]["clusterIP"]
    def via_service() -> bool:
        return cluster.kubectl("exec", "client", "--", "timeout", "3", "wget", "-q", "-O-",
                               f"http://{cluster_ip}/").stdout.strip() == "via-service"

    wait_until("the Service's ClusterIP to answer", via_service, timeout=40, interval=0.3,
               diagnose=lambda: f"{proxy.poll()} "
                                f"{(cluster.node.workdir / 'proxy.log').read_text()}")
    saved = cluster.node.ctr("version").returncode == 0 and subprocess.run(
        ["ip", "netns", "exec", cluster.node.netns, "iptables-save", "-t", "nat"],
        capture_output=True, text=True).stdout
    assert f"-d {cluster_ip}/32" in str(saved) and f"--to-destination {web_ip}:8080" in str(saved)
    with urllib.request.urlopen(f"http://{cluster.node.node_ip}:30080/", timeout=5) as resp:
        assert resp.read().decode().strip() == "via-service"


def test_clusterip_balances_across_endpoints(cluster: Cluster,
                                            proxy: subprocess.Popen[bytes]) -> None:
    ips = []
    for name in ("lb-a", "lb-b"):
        cluster.apply(pod(name, f"mkdir -p /www && echo {name} > /www/index.html "
                          "&& exec httpd -f -p 8080 -h /www"))
    cluster.apply(pod("lb-client", "sleep 3600"))
    for name in ("lb-a", "lb-b"):
        ips.append(cluster.wait_running(name)["status"]["podIP"])
    cluster.wait_running("lb-client")
    cluster.apply({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "lb", "namespace": "default"},
                   "spec": {"ports": [{"port": 80, "targetPort": 8080}]}})
    cluster.apply({"apiVersion": "v1", "kind": "Endpoints",
                   "metadata": {"name": "lb", "namespace": "default"},
                   "subsets": [{"addresses": [{"ip": ip} for ip in ips],
                                "ports": [{"port": 8080}]}]})
    svc = cluster.get("service", "lb")
    assert svc is not None
    script = ("for i in $(seq 1 24); do timeout 3 wget -q -O- http://"
              f"{svc['spec']['clusterIP']}/; done")
    seen: set[str] = set()

    def both_answered() -> bool:
        seen.update(cluster.kubectl("exec", "lb-client", "--", "sh", "-c", script).stdout.split())
        return seen == {"lb-a", "lb-b"}

    wait_until("both endpoints to answer", both_answered, timeout=40, interval=0)


def test_service_without_endpoints_is_refused(cluster: Cluster,
                                              proxy: subprocess.Popen[bytes]) -> None:
    cluster.apply(pod("refused-client", "sleep 3600"))
    cluster.wait_running("refused-client")
    cluster.apply({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "nobody", "namespace": "default"},
                   "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80}]}})
    svc = cluster.get("service", "nobody")
    assert svc is not None
    def refused() -> str | None:
        # `timeout 5`: without the REJECT the connection would hang, and wget says no "refused"
        err = cluster.kubectl("exec", "refused-client", "--", "timeout", "5", "wget", "-q",
                              "-O-", f"http://{svc['spec']['clusterIP']}/").stderr
        return err if "refused" in err.lower() else None

    wait_until("an endpoint-less Service to refuse", refused, timeout=40, interval=0.3)
