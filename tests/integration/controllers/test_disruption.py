"""PodDisruptionBudgets end to end: real etcd + apiserver + controller-manager + scheduler +
hollow nodes; the budgets' status, ``kubectl get pdb``, the eviction subresource's 429 and a
real ``kubectl drain`` blocked by a budget until a replica is ready elsewhere."""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from kboot.controlplane.client.errors import TooManyRequests
from kboot.controlplane.client.sync import SyncClient
from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.fixtures.etcd import EtcdCluster, start_etcd

from .cluster import ControlPlane, running_pods, wait_for

pytestmark = pytest.mark.integration
REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdCluster]:
    with start_etcd() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def server(etcd: EtcdCluster) -> Iterator[ApiServer]:
    with start_apiserver(etcd.url) as srv:
        yield srv


def setup_ns(cp: ControlPlane, name: str) -> str:
    cp.kubectl("create", "namespace", name)
    return name


def deployment(cp: ControlPlane, ns: str, name: str, replicas: int) -> None:
    cp.kubectl("create", "deployment", name, "-n", ns, "--image=nginx:1",
               f"--replicas={replicas}")


def pdb(cp: ControlPlane, ns: str, name: str, app: str, bound: str) -> None:
    cp.kubectl("apply", "-n", ns, "-f", "-", input=f"""apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: {name}}}
spec:
  {bound}
  selector: {{matchLabels: {{app: {app}}}}}
""")


def ready_pods(client: SyncClient, ns: str, app: str, count: int) -> list[dict[str, Any]] | None:
    pods = [p for p in running_pods(client, ns, f"app={app}")
            if any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in p["status"].get("conditions") or [])]
    return pods if len(pods) == count else None


def status_is(client: SyncClient, ns: str, name: str,
              **want: int) -> dict[str, Any] | None:
    status = client.get("poddisruptionbudgets", name, namespace=ns).get("status") or {}
    return status if all(status.get(k) == v for k, v in want.items()) else None


def evict(cp: ControlPlane, ns: str, pod: str,
          uid: str | None = None) -> subprocess.CompletedProcess[str]:
    body = json.dumps({"apiVersion": "policy/v1", "kind": "Eviction",
                       "metadata": {"name": pod, "namespace": ns},
                       **({"deleteOptions": {"preconditions": {"uid": uid}}} if uid else {})})
    return cp.server.kubectl("create", "--raw", f"/api/v1/namespaces/{ns}/pods/{pod}/eviction",
                             "-f", "-", input=body)


def test_status_math_for_int_and_percent_bounds_and_unhealthy_pods(
        cp: ControlPlane, client: SyncClient) -> None:
    ns = setup_ns(cp, "pdb-math")
    try:
        check_status_math(cp, client, ns)
    finally:  # several budgets on one pod block its eviction: leave none for the drain test
        cp.kubectl("delete", "namespace", ns, "--wait=false")
        cp.kubectl("delete", "pdb", "--all", "-n", ns)


def check_status_math(cp: ControlPlane, client: SyncClient, ns: str) -> None:
    deployment(cp, ns, "web", 3)
    wait_for("3 ready web pods", lambda: ready_pods(client, ns, "web", 3), cp=cp)
    pdb(cp, ns, "min-int", "web", "minAvailable: 2")
    pdb(cp, ns, "min-pct", "web", 'minAvailable: "34%"')  # 1.02 of 3 rounds up to 2
    pdb(cp, ns, "max-int", "web", "maxUnavailable: 1")
    pdb(cp, ns, "max-pct", "web", 'maxUnavailable: "34%"')  # 2 may go: 1 must stay
    pdb(cp, ns, "min-all", "web", "minAvailable: 3")
    cases = {"min-int": (3, 2, 1), "min-pct": (3, 2, 1), "max-int": (3, 2, 1),
             "max-pct": (3, 1, 2), "min-all": (3, 3, 0)}
    for name, (expected, desired, allowed) in cases.items():
        want = {"expectedPods": expected, "desiredHealthy": desired,
                "disruptionsAllowed": allowed, "currentHealthy": 3}

        def probe(n: str = name, w: dict[str, int] = want) -> dict[str, Any] | None:
            return status_is(client, ns, n, **w)

        status = wait_for(f"{name} status", probe, cp=cp)
        cond = status["conditions"][0]
        assert cond["type"] == "DisruptionAllowed"
        assert cond["reason"] == ("SufficientPods" if allowed else "InsufficientPods")
        assert status["observedGeneration"] == 1

    lines = cp.kubectl("get", "pdb", "-n", ns).splitlines()
    assert lines[0].split() == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED",
                                "DISRUPTIONS", "AGE"]
    rows = {line.split()[0]: line.split()[1:4] for line in lines[1:]}
    assert rows["min-pct"] == ["34%", "N/A", "1"]
    assert rows["max-pct"] == ["N/A", "34%", "2"]

    # an unhealthy (never scheduled) pod: an integer minAvailable counts it as expected
    cp.kubectl("run", "stray", "-n", ns, "--image=nginx:1", "--labels=app=web",
               "--overrides", '{"spec": {"nodeName": "no-such-node"}}')
    wait_for("stray pod counted, not healthy", lambda: status_is(
        client, ns, "min-int", expectedPods=4, currentHealthy=3, desiredHealthy=2,
        disruptionsAllowed=1), cp=cp)
    cp.kubectl("delete", "pod", "stray", "-n", ns, "--grace-period=0", "--force")


def test_invalid_budgets_are_refused_with_the_field(cp: ControlPlane) -> None:
    ns = setup_ns(cp, "pdb-bad")
    bad = cp.server.kubectl("apply", "-n", ns, "-f", "-", input="""apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: both}
spec: {minAvailable: 1, maxUnavailable: "10%", selector: {matchLabels: {app: x}}}
""")
    assert bad.returncode != 0
    assert "minAvailable and maxUnavailable cannot be both set" in bad.stderr
    bad = cp.server.kubectl("apply", "-n", ns, "-f", "-", input="""apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: pct}
spec: {minAvailable: "150%", selector: {matchLabels: {app: x}}}
""")
    assert bad.returncode != 0 and "must not be greater than 100%" in bad.stderr
    # kubectl's generator (a protobuf body where the server offers it) and explain
    cp.kubectl("create", "pdb", "made", "-n", ns, "--selector=app=x", "--max-unavailable=25%")
    assert cp.kubectl("get", "pdb", "made", "-n", ns, "-o", "jsonpath={.spec.maxUnavailable}") \
        == "25%"
    assert "IntOrString" in cp.kubectl("explain", "pdb.spec.minAvailable")


def test_a_budget_selecting_nothing_says_so(cp: ControlPlane, client: SyncClient) -> None:
    ns = setup_ns(cp, "pdb-none")
    pdb(cp, ns, "ghost", "ghost", "minAvailable: 1")
    wait_for("ghost status", lambda: status_is(client, ns, "ghost", expectedPods=0,
                                               currentHealthy=0, disruptionsAllowed=0), cp=cp)
    events = wait_for("NoPods event", lambda: [
        e for e in client.list("events", namespace=ns)
        if e["involvedObject"]["name"] == "ghost" and e["reason"] == "NoPods"] or None, cp=cp)
    assert events[0]["message"] == "No matching pods found"
    assert "No matching pods found" in cp.kubectl("describe", "pdb", "ghost", "-n", ns)


def under_budget(cp: ControlPlane, client: SyncClient, ns: str, app: str, replicas: int,
                 bound: str, allowed: int) -> list[dict[str, Any]]:
    """A Deployment ``app`` of ``replicas`` ready pods under a budget ``app`` with ``bound``,
    once the budget allows ``allowed`` disruptions."""
    deployment(cp, ns, app, replicas)
    pods = wait_for(f"{replicas} ready {app} pods",
                    lambda: ready_pods(client, ns, app, replicas), cp=cp)
    pdb(cp, ns, app, app, bound)
    wait_for("budget computed", lambda: status_is(client, ns, app, currentHealthy=replicas,
                                                  disruptionsAllowed=allowed), cp=cp)
    return pods


def two_replicas_both_needed(cp: ControlPlane, client: SyncClient, ns: str,
                             app: str) -> list[dict[str, Any]]:
    return under_budget(cp, client, ns, app, 2, "minAvailable: 2", 0)


def test_eviction_is_refused_until_a_replacement_is_ready(
        cp: ControlPlane, client: SyncClient) -> None:
    ns = setup_ns(cp, "pdb-evict")
    pods = two_replicas_both_needed(cp, client, ns, "db")
    victim = pods[0]["metadata"]["name"]
    refused = evict(cp, ns, victim)
    assert refused.returncode != 0 and REFUSED in refused.stderr, refused.stderr
    assert not client.get("pods", victim, namespace=ns)["metadata"].get("deletionTimestamp")

    cp.kubectl("scale", "deploy/db", "-n", ns, "--replicas=3")
    wait_for("a third replica counted", lambda: status_is(client, ns, "db", currentHealthy=3,
                                                          disruptionsAllowed=1), cp=cp)
    stale = evict(cp, ns, victim, uid="not-the-pods-uid")
    assert stale.returncode != 0 and "Precondition failed" in stale.stderr, stale.stderr
    status = client.get("poddisruptionbudgets", "db", namespace=ns)["status"]
    assert status["disruptionsAllowed"] == 1 and not status.get("disruptedPods")
    done = evict(cp, ns, victim)
    assert done.returncode == 0, done.stderr
    assert victim not in {p["metadata"]["name"] for p in running_pods(client, ns, "app=db")}
    wait_for("replacement ready again", lambda: status_is(client, ns, "db", currentHealthy=3,
                                                          disruptionsAllowed=1), cp=cp)


def test_kubectl_drain_waits_for_the_budget(cp: ControlPlane, client: SyncClient,
                                            server: ApiServer) -> None:
    ns = setup_ns(cp, "pdb-drain")
    pods = two_replicas_both_needed(cp, client, ns, "kv")
    node = pods[0]["spec"]["nodeName"]
    home = server.workdir / "home"
    home.mkdir(exist_ok=True)
    drain = subprocess.Popen(
        ["/usr/bin/kubectl", "--kubeconfig", str(server.kubeconfig), "drain", node,
         "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=120s"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    assert drain.stdout is not None
    seen: list[str] = []
    refused = threading.Event()

    def read() -> None:
        assert drain.stdout is not None
        for line in drain.stdout:
            seen.append(line)
            if REFUSED in line:
                refused.set()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert refused.wait(60), "".join(seen)
        assert drain.poll() is None  # still retrying
        cp.kubectl("scale", "deploy/kv", "-n", ns, "--replicas=3")
        assert drain.wait(120) == 0, "".join(seen)
    finally:
        if drain.poll() is None:
            drain.kill()
            drain.wait()
        reader.join()
        cp.kubectl("uncordon", node)
    assert f"node/{node} drained" in "".join(seen)
    left = [p for p in running_pods(client, ns, "app=kv") if p["spec"]["nodeName"] == node]
    assert left == []


@contextlib.contextmanager
def replacements_held(cp: ControlPlane, client: SyncClient) -> Iterator[None]:
    """Every node cordoned for the duration: the ReplicaSet's replacements of evicted pods stay
    Pending, so the budget cannot recover a disruption in the middle of a burst (a replacement
    Ready on a hollow node within a second would rightly allow another eviction, and the
    burst's outcome would depend on the machine's speed)."""
    nodes = [n["metadata"]["name"] for n in client.list("nodes")]
    for node in nodes:
        cp.kubectl("cordon", node)
    try:
        yield
    finally:
        for node in nodes:
            cp.kubectl("uncordon", node)


def evict_back_to_back(clients: list[SyncClient], pods: list[dict[str, Any]]) -> list[str]:
    """What ``kboot.cluster.drain`` does in one pass: each pod's eviction (its uid as
    precondition) right after the other; 'evicted' or the refusal's reason per pod."""
    outcomes = []
    for pod, client in zip(pods, itertools.cycle(clients)):
        md = pod["metadata"]
        try:
            client.create_subresource("pods", md["name"], "eviction", {
                "apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": md["name"], "namespace": md["namespace"]},
                "deleteOptions": {"preconditions": {"uid": md["uid"]}}},
                namespace=md["namespace"])
            outcomes.append("evicted")
        except TooManyRequests as exc:
            outcomes.append(f"refused: {exc.message}")
    return outcomes


def test_back_to_back_evictions_spend_one_allowed_disruption(
        cp: ControlPlane, client: SyncClient) -> None:
    """A drain's burst: the first eviction spends the one disruption, the next two are
    refused at once (not retried by the client until a replacement is ready)."""
    pods = under_budget(cp, client, setup_ns(cp, "pdb-burst"), "web", 3, "maxUnavailable: 1", 1)
    with replacements_held(cp, client):
        outcomes = evict_back_to_back([client], pods)
    assert outcomes[0] == "evicted", outcomes
    assert all(REFUSED in o for o in outcomes[1:]), outcomes


def test_back_to_back_evictions_through_three_apiservers_on_one_etcd(
        cp: ControlPlane, client: SyncClient, etcd: EtcdCluster) -> None:
    """The same burst spread over three apiservers sharing the store (the HA shape)."""
    pods = under_budget(cp, client, setup_ns(cp, "pdb-ha"), "ha", 3, "maxUnavailable: 1", 1)
    with start_apiserver(etcd.url) as second, start_apiserver(etcd.url) as third, \
            SyncClient.from_kubeconfig(second.kubeconfig) as two, \
            SyncClient.from_kubeconfig(third.kubeconfig) as three, \
            replacements_held(cp, client):
        outcomes = evict_back_to_back([client, two, three], pods)
    assert outcomes[0] == "evicted", outcomes
    assert all(REFUSED in o for o in outcomes[1:]), outcomes
