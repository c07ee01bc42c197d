"""NetworkPolicy enforced by kboot-proxy on a lab cluster (the shared 1 control plane + 2 workers
lab), with real TCP connections between pods:

- ``np-a/server`` (w1) is reached by ``np-a/near`` (w1: same node, bridged), ``np-a/far``
  (w2: another node, routed) and ``np-b/other`` (w2, another namespace) until a default-deny
  ingress policy blocks all three; an allow rule by ``podSelector`` opens it to near and far
  only (``other`` has the same labels but lives in another namespace); one by
  ``namespaceSelector`` then opens it to ``other``;
- under default-deny egress in ``np-b``, a rule allowing DNS to kube-dns lets ``other`` resolve
  names (through the kube-dns Service and straight at another node's kboot-dns, which is
  blocked before the rule) while its TCP to the server stays blocked.

The cluster stays up for later modules on the same lab; the namespaces are deleted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kboot.lab import Lab
from tests.e2e.conftest import Kboot
from tests.fixtures.lab import LabFactory, Shape
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 2, "provisioned"),)

CLIENTS = {"near": ("np-a", "w1"), "far": ("np-a", "w2"), "other": ("np-b", "w2")}


def _pod(name: str, ns: str, node: str, labels: dict[str, str], command: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                     "tolerations": [{"operator": "Exists"}],
                     "containers": [{"name": "main", "image": "kboot.io/busybox:1.35",
                                     "imagePullPolicy": "IfNotPresent",
                                     "command": ["sh", "-c", command],
                                     "ports": [{"name": "http", "containerPort": 8080}]}]}}


def _policy(ns: str, name: str, spec: dict[str, object]) -> dict[str, object]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


class Cluster:
    def __init__(self, kboot: Kboot, lab: Lab, tmp: Path) -> None:
        self.kboot, self.lab, self.name, self.tmp = kboot, lab, lab.name, tmp

    def apply(self, *objs: dict[str, object]) -> None:
        path = self.tmp / "objs.yaml"
        path.write_text(yaml.safe_dump_all(objs))
        self.kboot.kubectl(self.name, "apply", "-f", str(path))

    def sh(self, pod: str, ns: str, script: str) -> tuple[int, str]:
        proc = self.kboot.kubectl(self.name, "exec", "-n", ns, pod, "--", "sh", "-c", script,
                                  check=False, timeout=60)
        return proc.returncode, proc.stdout + proc.stderr

    def connects(self, client: str, ip: str) -> bool:
        # `timeout`: a dropped SYN would otherwise wait for TCP's own retries
        code, out = self.sh(client, CLIENTS[client][0],
                            f"timeout 3 wget -q -O- http://{ip}:8080/")
        return code == 0 and "np-server" in out

    def reach(self, ip: str) -> dict[str, bool]:
        return {client: self.connects(client, ip) for client in CLIENTS}

    def diagnose(self) -> str:
        return "\n".join(f"{node}:\n" + self.lab.exec(
            f"{self.name}-{node}", ["iptables-save", "-t", "filter"]).stdout[-3000:]
            for node in ("w1", "w2"))


@pytest.fixture(scope="module")
def cluster(lab_factory: LabFactory, kboot: Kboot,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    lab = lab_factory(1, 2, image="provisioned")  # shared with test_registry/test_up_lifecycle
    kboot.up(lab.inventory_path)
    c = Cluster(kboot, lab, tmp_path_factory.mktemp("netpol"))
    node = {"w1": f"{lab.name}-w1", "w2": f"{lab.name}-w2"}
    sleeper = "trap 'exit 0' TERM; while :; do sleep 1; done"
    c.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "np-a"}},
            {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "np-b", "labels": {"team": "np-b"}}})
    c.apply(_pod("server", "np-a", node["w1"], {"app": "server"},
                 "mkdir -p /www && echo np-server > /www/index.html "
                 "&& exec httpd -f -p 8080 -h /www"),
            *(_pod(name, ns, node[where], {"role": "client"}, sleeper)
              for name, (ns, where) in CLIENTS.items()))
    for name, (ns, _) in {"server": ("np-a", ""), **CLIENTS}.items():
        c.kboot.kubectl(c.name, "wait", "--for=condition=Ready", f"pod/{name}", "-n", ns,
                        "--timeout=180s", timeout=200)
    try:
        yield c
    finally:
        kboot.kubectl(lab.name, "delete", "namespace", "np-a", "np-b", "--wait=false",
                      check=False)


def _server_ip(c: Cluster) -> str:
    pod = json.loads(c.kboot.kubectl(c.name, "get", "pod", "server", "-n", "np-a", "-o",
                                     "json").stdout)
    return str(pod["status"]["podIP"])


def _until(c: Cluster, what: str, ip: str, want: dict[str, bool]) -> None:
    wait_until(what, lambda: c.reach(ip) == want, timeout=60, interval=0.5,
               diagnose=lambda: f"reach={c.reach(ip)}\n{c.diagnose()}")


def test_default_deny_then_allow_by_pod_then_namespace_selector(cluster: Cluster) -> None:
    c, ip = cluster, _server_ip(cluster)
    _until(c, "every client to reach the server", ip, {"near": True, "far": True, "other": True})

    c.apply(_policy("np-a", "default-deny", {"podSelector": {}, "policyTypes": ["Ingress"]}))
    _until(c, "default deny to block everyone", ip,
           {"near": False, "far": False, "other": False})
    rules = c.lab.exec(f"{c.name}-w1", ["iptables-save", "-t", "filter"]).stdout
    assert "KBOOT-NETPOL" in rules and "np-a: ingress not allowed by default-deny" in rules

    c.apply(_policy("np-a", "clients", {
        "podSelector": {"matchLabels": {"app": "server"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                     "ports": [{"port": "http"}]}]}))
    # same node (near) and another node (far) open; other (same labels, other namespace) not
    _until(c, "the podSelector rule to open near and far", ip,
           {"near": True, "far": True, "other": False})

    c.apply(_policy("np-a", "team-b", {
        "podSelector": {"matchLabels": {"app": "server"}},
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "np-b"}}}],
                     "ports": [{"port": 8080, "protocol": "TCP"}]}]}))
    _until(c, "the namespaceSelector rule to open other", ip,
           {"near": True, "far": True, "other": True})


def test_dns_egress_allowed_under_default_deny_egress(cluster: Cluster) -> None:
    c, ip = cluster, _server_ip(cluster)
    cp1 = next(n.address for n in c.lab.nodes if n.name.endswith("-cp1"))
    api_ip = c.kboot.kubectl(c.name, "get", "service", "kubernetes", "-n", "default", "-o",
                             "jsonpath={.spec.clusterIP}").stdout.strip()
    name = "kubernetes.default.svc.cluster.local"

    def resolves(server: str = "") -> bool:
        # busybox nslookup's exit code counts the AAAA query too: look for the answer instead
        return api_ip in c.sh("other", "np-b", f"timeout 5 nslookup {name} {server}")[1]

    assert resolves(cp1)  # kboot-dns on cp1 answers before any policy
    c.apply(_policy("np-b", "deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]}))
    wait_until("egress from np-b to be blocked",
               lambda: not resolves(cp1) and not c.connects("other", ip),
               timeout=60, interval=0.5, diagnose=c.diagnose)

    c.apply(_policy("np-b", "allow-dns", {
        "podSelector": {}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]}))
    wait_until("DNS straight at cp1's kboot-dns to be allowed", lambda: resolves(cp1),
               timeout=60, interval=0.5, diagnose=c.diagnose)
    # through the kube-dns Service (DNAT to any node's kboot-dns): every lookup answers
    answered = [resolves() for _ in range(6)]
    assert all(answered), answered
    assert not c.connects("other", ip)  # the server is still not an allowed destination
