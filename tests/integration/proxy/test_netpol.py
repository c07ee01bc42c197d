"""kboot-proxy enforcing NetworkPolicy on a real node (bridge ``cni0``, real containerd pods,
real iptables-nft): default deny blocks a same-node TCP connection, a podSelector rule on a
named port opens it for one client only, and deleting the policies opens it again."""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.kubelet.cluster import Cluster, pod
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def _policy(name: str, spec: dict[str, object]) -> dict[str, object]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def test_default_deny_then_allow_one_client(cluster: Cluster,
                                            proxy: subprocess.Popen[bytes]) -> None:
    cluster.apply(pod("np-server", "mkdir -p /www && echo np-ok > /www/index.html "
                      "&& exec httpd -f -p 8080 -h /www",
                      container={"ports": [{"name": "http", "containerPort": 8080}]}))
    for name in ("np-friend", "np-stranger"):
        cluster.apply(pod(name, "sleep 3600"))
    ip = cluster.wait_running("np-server")["status"]["podIP"]
    for name in ("np-friend", "np-stranger"):
        cluster.wait_running(name)

    def reach() -> dict[str, bool]:
        return {name: cluster.kubectl("exec", name, "--", "timeout", "3", "wget", "-q", "-O-",
                                      f"http://{ip}:8080/").stdout.strip() == "np-ok"
                for name in ("np-friend", "np-stranger")}

    def rules() -> str:
        return subprocess.run(["ip", "netns", "exec", cluster.node.netns, "iptables-save", "-t",
                               "filter"], capture_output=True, text=True).stdout

    def until(want: dict[str, bool], what: str) -> None:
        wait_until(what, lambda: reach() == want, timeout=40, interval=0.3,
                   diagnose=lambda: f"{reach()}\n{rules()}\n"
                                    f"{(cluster.node.workdir / 'proxy.log').read_text()[-3000:]}")

    until({"np-friend": True, "np-stranger": True}, "both clients to connect")
    cluster.apply(_policy("np-deny", {"podSelector": {"matchLabels": {"app": "np-server"}}}))
    until({"np-friend": False, "np-stranger": False}, "default deny to block both")
    cluster.apply(_policy("np-friend", {
        "podSelector": {"matchLabels": {"app": "np-server"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "np-friend"}}}],
                     "ports": [{"port": "http"}]}]}))
    until({"np-friend": True, "np-stranger": False}, "the friend only to connect")
    assert "default: ingress not allowed by np-deny,np-friend" in rules()
    for name in ("np-deny", "np-friend"):
        cluster.kubectl("delete", "networkpolicy", name)
    until({"np-friend": True, "np-stranger": True}, "both to connect once policies are gone")
    assert "KBOOT-NP-I-" not in rules()
