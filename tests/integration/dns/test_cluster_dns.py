"""kboot-dns answering pods: Service names resolve through the pod's resolv.conf search path."""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.kubelet.cluster import Cluster, pod
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def test_service_names_resolve_inside_a_pod(cluster: Cluster,
                                            dns: subprocess.Popen[bytes]) -> None:
    cluster.apply(pod("named", "mkdir -p /www && echo found-by-name > /www/index.html "
                      "&& exec httpd -f -p 8080 -h /www"))
    cluster.apply(pod("asker", "sleep 3600"))
    ip = cluster.wait_running("named")["status"]["podIP"]
    cluster.wait_running("asker")
    cluster.apply({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "named", "namespace": "default"},
                   "spec": {"clusterIP": "None", "selector": {"app": "named"},
                            "ports": [{"name": "http", "port": 8080}]}})
    cluster.apply({"apiVersion": "v1", "kind": "Endpoints",
                   "metadata": {"name": "named", "namespace": "default"},
                   "subsets": [{"addresses": [{"ip": ip}],
                                "ports": [{"name": "http", "port": 8080}]}]})
    cluster.apply({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "virtual", "namespace": "default"},
                   "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}})
    virtual = cluster.get("service", "virtual")
    assert virtual is not None
    resolv = cluster.kubectl("exec", "asker", "--", "cat", "/etc/resolv.conf").stdout
    assert f"nameserver {cluster.node.host_ip}" in resolv
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in resolv
    def by_name() -> bool:
        return cluster.kubectl("exec", "asker", "--", "timeout", "5", "wget", "-q", "-O-",
                               "http://named:8080/").stdout.strip() == "found-by-name"

    wait_until("a Service reached by name", by_name, timeout=40, interval=0.3,
               diagnose=lambda: f"{dns.poll()} {(cluster.node.workdir / 'dns.log').read_text()}")
    look = cluster.kubectl("exec", "asker", "--", "nslookup",
                           "virtual.default.svc.cluster.local").stdout
    assert virtual["spec"]["clusterIP"] in look
    missing = cluster.kubectl("exec", "asker", "--", "nslookup", "nothing-here")
    assert missing.returncode != 0
