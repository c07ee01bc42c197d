"""``kboot up`` on five bare lab machines (3 control planes with etcd + 2 workers): the README's
main job, as tests. The cluster is built once for this module; tests run in order."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
import yaml

from kboot.lab import Lab
from tests.e2e.conftest import DRIFT, CheckReport, Kboot, drift_file
from tests.fixtures.lab import Shape

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(3, 2),)

EXAMPLE = "examples/hello.yaml"


@pytest.fixture(scope="module")
def cluster(ha_cluster: str) -> str:
    return ha_cluster


def _ready_nodes(kboot: Kboot, cluster: str) -> dict[str, str]:
    out = kboot.kubectl(cluster, "get", "nodes", "-o", "json").stdout
    ready = {}
    for node in json.loads(out)["items"]:
        conds = {c["type"]: c["status"] for c in node["status"].get("conditions", [])}
        ready[node["metadata"]["name"]] = conds.get("Ready", "Unknown")
    return ready


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(1)


def _http(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def _http_eventually(url: str, timeout: float = 30) -> str:
    """``rollout status`` says the pods are ready; each node's kboot-proxy installs the Service's
    rules from the Endpoints a moment later (as kube-proxy does), so allow it that moment."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _http(url)
        except OSError:  # URLError: refused until the node's rules are in
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_five_nodes_ready_with_roles(kboot: Kboot, cluster: str, lab: Lab) -> None:
    assert _ready_nodes(kboot, cluster) == {n.name: "True" for n in lab.nodes}
    wide = kboot.kubectl(cluster, "get", "nodes", "-o", "wide").stdout
    assert "control-plane" in wide and "worker" in wide


def test_nodes_joined_with_bootstrap_tokens_and_csrs(kboot: Kboot, cluster: str,
                                                    lab: Lab) -> None:
    """Every kubelet traded the join token for a CSR-issued certificate of its own key."""
    csrs = json.loads(kboot.kubectl(cluster, "get", "csr", "-o", "json").stdout)["items"]
    kubelet = [c for c in csrs
               if c["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"]
    assert {c["spec"]["username"].split(":")[1] for c in kubelet} == {"bootstrap"}
    assert all((c.get("status") or {}).get("certificate") for c in kubelet)
    assert len(kubelet) == len(lab.nodes)
    tokens = json.loads(kboot.kubectl(cluster, "-n", "kube-system", "get", "secrets",
                                      "--field-selector", "type=bootstrap.kubernetes.io/token",
                                      "-o", "json").stdout)["items"]
    assert len(tokens) == 1 and "expiration" in tokens[0]["data"]
    for node in lab.nodes:
        probe = lab.exec(node.name, ["sh", "-c", (
            "grep -q 'client-certificate: /var/lib/kboot/kubelet/pki/kubelet-client-current.pem'"
            " /etc/kboot/kubelet.kubeconfig && test ! -e /etc/kboot/bootstrap-kubelet.kubeconfig"
            " && test \"$(stat -c %a /var/lib/kboot/kubelet/pki/kubelet-client-current.pem)\""
            " = 600 && if test -e /etc/kboot/pki/ca.key; then echo has-ca-key; fi")])
        assert probe.exit_code == 0, f"{node.name}: {probe.stdout}{probe.stderr}"
        cp = node.role == "control_plane"
        assert ("has-ca-key" in probe.stdout) is cp, node.name  # only the signer's hosts


def test_example_app_answers_through_its_service(kboot: Kboot, cluster: str, lab: Lab) -> None:
    kboot.kubectl(cluster, "apply", "-f", EXAMPLE)
    kboot.kubectl(cluster, "-n", "hello", "rollout", "status", "deployment/hello",
                  "--timeout=180s", timeout=200)
    for node in lab.nodes:  # NodePort on every node, from the workstation
        assert "Hello from kboot" in _http_eventually(f"http://{node.address}:30080/")
    svc = json.loads(kboot.kubectl(cluster, "-n", "hello", "get", "svc", "hello",
                                   "-o", "json").stdout)
    cluster_ip = svc["spec"]["clusterIP"]
    probe = ("import urllib.request;print(urllib.request.urlopen("
             f"'http://{cluster_ip}/', timeout=5).read().decode())")
    result = lab.exec("cp2", ["python3", "-c", probe], timeout=30)
    assert result.exit_code == 0 and "Hello from kboot" in result.stdout
    # the Secret reached the pods (its digest is shown, never its value)
    assert "s3cr3t" not in result.stdout and "token digest" in result.stdout


def test_pods_reach_pods_across_nodes_and_services_balance_over_nodes(
        kboot: Kboot, cluster: str, lab: Lab) -> None:
    pods = json.loads(kboot.kubectl(cluster, "-n", "hello", "get", "pods", "-l", "app=hello",
                                    "-o", "json").stdout)["items"]
    by_node = {p["spec"]["nodeName"]: p for p in pods if p["status"].get("podIP")}
    assert len(by_node) >= 2, f"replicas not spread over nodes: {sorted(by_node)}"
    (node_a, src), (node_b, dst) = sorted(by_node.items())[:2]
    out = kboot.kubectl(cluster, "-n", "hello", "exec", src["metadata"]["name"], "--",
                        "wget", "-qO-", f"http://{dst['status']['podIP']}:8080/").stdout
    assert f"served by {dst['metadata']['name']}" in out, (node_a, node_b, out)
    svc = json.loads(kboot.kubectl(cluster, "-n", "hello", "get", "svc", "hello",
                                   "-o", "json").stdout)
    probe = ("import urllib.request\n"
             "for _ in range(40):\n"
             f"    print(urllib.request.urlopen('http://{svc['spec']['clusterIP']}/',"
             " timeout=5).read().decode())")
    result = lab.exec("cp1", ["python3", "-c", probe], timeout=60)
    assert result.exit_code == 0, result.stderr
    node_of = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods}
    served = {node_of[line.split("served by ")[1].split(",")[0]]
              for line in result.stdout.splitlines() if "served by " in line}
    assert len(served) >= 2, f"the ClusterIP reached pods on {served} only"


def test_kubectl_logs_and_exec(kboot: Kboot, cluster: str) -> None:
    kboot.kubectl(cluster, "run", "talker", "--image=kboot.io/busybox:1.35",
                  "--image-pull-policy=IfNotPresent", "--restart=Never", "--",
                  "sh", "-c", "for i in 1 2 3; do echo line-$i; done; sleep 300")
    kboot.kubectl(cluster, "wait", "--for=condition=Ready", "pod/talker", "--timeout=120s",
                  timeout=130)
    _wait(lambda: "line-3" in kboot.kubectl(cluster, "logs", "talker").stdout, 30, "logs")
    assert kboot.kubectl(cluster, "logs", "talker", "--tail=1").stdout.strip() == "line-3"
    out = kboot.kubectl(cluster, "exec", "talker", "--", "cat", "/etc/hostname").stdout
    assert out.strip() == "talker"
    failed = kboot.kubectl(cluster, "exec", "talker", "--", "sh", "-c", "exit 3", check=False)
    assert failed.returncode == 3
    kboot.kubectl(cluster, "delete", "pod", "talker", "--wait=true", timeout=120)


def test_second_up_changes_nothing(kboot: Kboot, cluster: str, lab: Lab) -> None:
    proc = kboot.up(lab.inventory_path, "-o", "json")
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    changed = [f"{e['host']}: {e['task']}" for e in events
               if e.get("kind") == "task_result" and e["status"] != "ok"
               and e["status"] != "skipped"]
    assert events and changed == []


def test_check_reports_nothing_then_exactly_a_drift_on_the_vip_cluster(
        kboot: Kboot, cluster: str, lab: Lab) -> None:
    """Issue 21: ``--check --diff`` on the converged HA cluster with its virtual address (the
    keepalived configuration is rendered from a probe check mode used to skip) has nothing to
    do; a hand-edited keepalived.conf on one node is exactly what it reports; ``up`` undoes it."""
    assert kboot.check(lab.inventory_path) == CheckReport(0, frozenset(), {})
    cp2, conf = f"{lab.name}-cp2", "/etc/keepalived/keepalived.conf"
    drift_file(lab, cp2, conf)
    report = kboot.check(lab.inventory_path)
    assert report.changed == {(cp2, "keepalived configuration"), (cp2, "restart keepalived")}
    assert report.status == 2 and list(report.diffs) == [conf]
    assert "vrrp_instance kboot_api" in report.diffs[conf] and DRIFT not in report.diffs[conf]
    assert DRIFT in lab.exec(cp2, ["cat", conf]).stdout  # check mode changed nothing
    kboot.up(lab.inventory_path)
    assert DRIFT not in lab.exec(cp2, ["cat", conf]).stdout
    assert kboot.check(lab.inventory_path) == CheckReport(0, frozenset(), {})


def test_losing_a_control_plane_node_keeps_the_cluster_working(
        kboot: Kboot, cluster: str, lab: Lab) -> None:
    """Power off cp1 — the preferred holder of the API's virtual address, which the admin
    kubeconfig uses: the address moves to another control plane and kubectl, the workers and
    the scheduler/controller-manager leadership carry on."""
    vip = yaml.safe_load(lab.inventory_path.read_text())["cluster"]["api_vip"]
    config = yaml.safe_load(kboot.kubeconfig(cluster).read_text())
    assert config["clusters"][0]["cluster"]["server"] == f"https://{vip}:6443"
    holder = [n.short for n in lab.nodes if f"inet {vip}/" in _addrs(lab, n.name)]
    assert holder == ["cp1"], holder
    victim = f"{lab.name}-cp1"
    lab.kill("cp1")
    try:
        _wait(lambda: _ready_nodes_now(kboot, cluster).get(victim, "True") != "True", 120,
              f"{victim} to be reported not Ready")
        moved = [n.short for n in lab.nodes
                 if n.short != "cp1" and f"inet {vip}/" in _addrs(lab, n.name)]
        assert len(moved) == 1, moved
        kboot.kubectl(cluster, "create", "deployment", "after-loss",
                      "--image=kboot.io/busybox:1.35", "--replicas=2", "--",
                      "sh", "-c", "sleep 3600")
        kboot.kubectl(cluster, "rollout", "status", "deployment/after-loss", "--timeout=180s",
                      timeout=200)
        leases = json.loads(kboot.kubectl(cluster, "-n", "kube-system", "get", "leases",
                                          "-o", "json").stdout)["items"]
        holders = {le["metadata"]["name"]: le["spec"].get("holderIdentity", "")
                   for le in leases}
        leaders = [h for name, h in holders.items() if "scheduler" in name or "controller" in name]
        assert leaders and not any(h.startswith(victim) for h in leaders), holders
    finally:
        lab.start("cp1")
    _wait(lambda: _ready_nodes_now(kboot, cluster).get(victim) == "True", 180,
          f"{victim} Ready again after restart")
    # keepalived gives the address back to cp1 (its preferred holder) once it is healthy: the
    # next module on this lab must not meet the address in the middle of that move
    _wait(lambda: f"inet {vip}/" in _addrs(lab, victim), 120, f"the API address back on {victim}")
    _wait(lambda: bool(_ready_nodes_now(kboot, cluster)), 60, "the API answering at its address")


def _addrs(lab: Lab, node: str) -> str:
    return lab.exec(node, ["ip", "-o", "-4", "addr", "show"]).stdout


def _ready_nodes_now(kboot: Kboot, cluster: str) -> dict[str, str]:
    """Like _ready_nodes, but {} while the API address is moving (a failed kubectl)."""
    try:
        return _ready_nodes(kboot, cluster)
    except AssertionError:
        return {}
