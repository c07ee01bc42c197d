"""``externalTrafficPolicy: Local`` on a real node: the NodePort reaches only this node's
endpoints and the server sees the client's own address (no SNAT); with the only endpoint on
another node the NodePort drops outside traffic while the node's pods still get through (the
short-circuit); a LoadBalancer Service's health check port answers 200/503 accordingly."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.integration.kubelet.cluster import NODE_NAME, Cluster, pod
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

# busybox httpd runs the CGI script, which prints the peer address it saw
ECHO_IP = ("mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\n"
           "echo $REMOTE_ADDR\\n' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip "
           "&& exec httpd -f -p 8080 -h /www")


def _service(name: str, node_port: int, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "NodePort", "externalTrafficPolicy": "Local",
                     "ports": [{"port": 80, "targetPort": 8080, "nodePort": node_port}], **spec}}


def _endpoints(name: str, ip: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": name, "namespace": "default"},
            "subsets": [{"addresses": [{"ip": ip, "nodeName": node}],
                         "ports": [{"port": 8080}]}]}


def _save(cluster: Cluster, table: str) -> str:
    return subprocess.run(["ip", "netns", "exec", cluster.node.netns, "iptables-save", "-t",
                           table], capture_output=True, text=True, check=True).stdout


def _fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status, resp.read().decode().strip()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode().strip()


@pytest.fixture(scope="module")
def echo_ip(cluster: Cluster) -> str:
    cluster.apply(pod("echo-ip", ECHO_IP))
    cluster.apply(pod("tp-client", "sleep 3600"))
    cluster.wait_running("tp-client")
    return str(cluster.wait_running("echo-ip")["status"]["podIP"])


def test_local_endpoint_sees_the_client_address(cluster: Cluster, echo_ip: str,
                                                proxy: subprocess.Popen[bytes]) -> None:
    cluster.apply(_service("local-web", 30081))
    cluster.apply(_endpoints("local-web", echo_ip, NODE_NAME))
    url = f"http://{cluster.node.node_ip}:30081/cgi-bin/ip"

    def answered() -> str | None:
        try:
            return _fetch(url)[1]
        except OSError:
            return None

    seen = wait_until("the Local NodePort to answer", answered, timeout=40, interval=0.3,
                      diagnose=lambda: (cluster.node.workdir / "proxy.log").read_text()[-3000:])
    # httpd listens dual-stack: an IPv4 peer shows as [::ffff:a.b.c.d]
    assert seen.strip("[]").removeprefix("::ffff:") == cluster.node.host_ip  # not SNATed


def test_remote_only_endpoint_drops_outside_traffic(cluster: Cluster, echo_ip: str,
                                                    proxy: subprocess.Popen[bytes]) -> None:
    cluster.apply(_service("remote-web", 30082))
    cluster.apply(_endpoints("remote-web", echo_ip, "another-node"))
    wait_until("the DROP rule", lambda: '"default/remote-web has no local endpoints"'
               in _save(cluster, "filter"), timeout=40, interval=0.3)
    with pytest.raises(OSError):
        _fetch(f"http://{cluster.node.node_ip}:30082/cgi-bin/ip")
    # the node's own pods short-circuit to the cluster-wide endpoints
    out = cluster.kubectl("exec", "tp-client", "--", "timeout", "5", "wget", "-q", "-O-",
                          f"http://{cluster.node.node_ip}:30082/cgi-bin/ip")
    assert out.stdout.strip(), out.stderr


def test_health_check_port_follows_local_endpoints(cluster: Cluster, echo_ip: str,
                                                   proxy: subprocess.Popen[bytes]) -> None:
    cluster.apply(_service("lb-web", 30083, type="LoadBalancer"))
    cluster.apply(_endpoints("lb-web", echo_ip, NODE_NAME))
    svc = cluster.get("service", "lb-web")
    assert svc is not None
    url = f"http://{cluster.node.node_ip}:{svc['spec']['healthCheckNodePort']}/"

    def status(code: int) -> dict[str, Any] | None:
        try:
            got, body = _fetch(url)
        except OSError:
            return None
        return json.loads(body) if got == code else None

    body = wait_until("the health check to say 200", lambda: status(200), timeout=40,
                      interval=0.3)
    assert body == {"service": {"namespace": "default", "name": "lb-web"},
                    "localEndpoints": 1, "serviceProxyHealthy": True}
    cluster.apply(_endpoints("lb-web", echo_ip, "another-node"))
    body = wait_until("the health check to say 503", lambda: status(503), timeout=40,
                      interval=0.3)
    assert body["localEndpoints"] == 0
