"""Disruption budgets against real node drains (issue 17, acceptance) on the shared 1+2 lab: a
Deployment of 2 replicas under a PodDisruptionBudget ``minAvailable: 2`` blocks ``kubectl drain``
of a worker (bounded by ``--timeout``; the pod stays where it is) until a third replica is ready
elsewhere, and ``kboot remove-node`` likewise gives up after its ``--timeout`` naming the budget,
and, started again, waits on the budget and proceeds as soon as another replica is ready."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
import yaml

from kboot.lab import Lab
from tests.e2e.conftest import Kboot
from tests.e2e.test_streams import _kubectl
from tests.fixtures.lab import LabFactory, Shape
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 2, "provisioned"),)
NS = "pdb"
Kubectl = Callable[..., CompletedProcess[str]]
REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."

GUARDED = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
    {"apiVersion": "apps/v1", "kind": "Deployment",
     "metadata": {"name": "guarded", "namespace": NS},
     "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "guarded"}},
              "template": {"metadata": {"labels": {"app": "guarded"}}, "spec": {
                  "terminationGracePeriodSeconds": 2,
                  # one replica per worker, so that draining either one touches the budget
                  "topologySpreadConstraints": [{
                      "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                      "whenUnsatisfiable": "ScheduleAnyway",
                      "labelSelector": {"matchLabels": {"app": "guarded"}}}],
                  "containers": [{
                      "name": "main", "image": "kboot.io/busybox:1.35",
                      "imagePullPolicy": "IfNotPresent",
                      "command": ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"],
                      "readinessProbe": {"exec": {"command": ["true"]},
                                         "periodSeconds": 2}}]}}}},
    {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
     "metadata": {"name": "guarded", "namespace": NS},
     "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "guarded"}}}},
]


@pytest.fixture(scope="module")
def lab(lab_factory: LabFactory, kboot: Kboot) -> Iterator[Lab]:
    lab = lab_factory(1, 2, image="provisioned")  # shared with test_netpol/test_registry/...
    kboot.up(lab.inventory_path)
    yield lab
    # leave the shared lab as found: every node joined and schedulable, no test namespace
    k: Kubectl = partial(_kubectl, kboot, lab.name)
    k("delete", "namespace", NS, "--ignore-not-found", "--wait=false", check=False)
    kboot.up(lab.inventory_path)  # joins a removed worker again (still in the inventory)
    for node in (n.name for n in lab.nodes):
        k("uncordon", node, check=False)


@pytest.fixture(scope="module")
def kubectl(lab: Lab, kboot: Kboot) -> Kubectl:
    k: Kubectl = partial(_kubectl, kboot, lab.name)
    k("apply", "-f", "-", input=yaml.safe_dump_all(GUARDED))
    return k


def _pods(k: Kubectl) -> dict[str, tuple[str, bool]]:
    """The guarded pods still running: name -> (node, ready)."""
    items = json.loads(k("-n", NS, "get", "pods", "-l", "app=guarded", "-o", "json").stdout)
    return {p["metadata"]["name"]: (p["spec"].get("nodeName", ""), any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in p.get("status", {}).get("conditions") or []))
        for p in items["items"] if not p["metadata"].get("deletionTimestamp")}


def _pdb(k: Kubectl) -> Any:
    return json.loads(k("-n", NS, "get", "pdb", "guarded", "-o", "json").stdout)


def _settled(k: Kubectl, replicas: int, allowed: int) -> None:
    """``replicas`` guarded pods Ready and the budget counted them (disruptionsAllowed)."""
    wait_until(f"{replicas} guarded pods ready, {allowed} disruption(s) allowed",
               lambda: (len(p := _pods(k)) == replicas and all(r for _, r in p.values())
                        and _pdb(k)["status"].get("disruptionsAllowed") == allowed),
               timeout=180, interval=2, diagnose=lambda: f"{_pods(k)} {_pdb(k).get('status')}")


def _unschedulable(k: Kubectl, node: str) -> bool:
    return bool(json.loads(k("get", "node", node, "-o", "json").stdout)["spec"]
                .get("unschedulable"))


def test_kubectl_drain_is_blocked_by_the_budget_until_another_replica_is_ready(
        kubectl: Kubectl, lab: Lab) -> None:
    _settled(kubectl, 2, 0)
    before = _pods(kubectl)
    victim_node = sorted(before.values())[0][0]
    victim = next(name for name, (node, _) in before.items() if node == victim_node)

    blocked = kubectl("drain", victim_node, "--ignore-daemonsets", "--delete-emptydir-data",
                      "--timeout=20s", check=False)
    assert blocked.returncode != 0
    assert REFUSED in blocked.stderr and f"pods/\"{victim}\"" in blocked.stderr
    assert "global timeout reached" in blocked.stderr
    assert _pods(kubectl) == before  # the pod stayed, Ready, on its node
    assert _unschedulable(kubectl, victim_node)  # kubectl leaves the node cordoned

    kubectl("-n", NS, "scale", "deployment/guarded", "--replicas=3")
    _settled(kubectl, 3, 1)  # the third replica is ready elsewhere (victim_node is cordoned)
    assert victim in _pods(kubectl)
    drained = kubectl("drain", victim_node, "--ignore-daemonsets", "--delete-emptydir-data",
                      "--timeout=120s", timeout=150)
    assert f"pod/{victim} evicted" in drained.stdout
    assert f"node/{victim_node} drained" in drained.stdout
    assert victim not in _pods(kubectl)
    kubectl("uncordon", victim_node)
    # back to a budget that allows nothing: 2 replicas, both off victim_node now or not
    kubectl("-n", NS, "scale", "deployment/guarded", "--replicas=2")
    _settled(kubectl, 2, 0)


def test_remove_node_waits_on_the_budget_and_proceeds_once_it_allows(
        kubectl: Kubectl, kboot: Kboot, lab: Lab, tmp_path: Path) -> None:
    _settled(kubectl, 2, 0)
    workers = {f"{lab.name}-w1", f"{lab.name}-w2"}
    leaving = sorted(node for node, _ in _pods(kubectl).values() if node in workers)[0]
    staying = (workers - {leaving}).pop()
    on_leaving = {n for n, (node, _) in _pods(kubectl).items() if node == leaving}

    refused = kboot("remove-node", str(lab.inventory_path), leaving, "--yes", "--timeout", "15",
                    check=False)
    out = " ".join((refused.stdout + refused.stderr).split())
    assert refused.returncode != 0, out
    assert "drain timed out after 15s: eviction still refused for" in out
    assert "The disruption budget guarded needs 2 healthy pods and has 2 currently" in out
    assert "the node stays cordoned" in out
    assert on_leaving <= set(_pods(kubectl))  # nothing was evicted
    assert leaving in kubectl("get", "nodes", "-o", "name").stdout  # nor the node deleted

    # started again with room to wait: it says it waits on the budget; a third replica ready
    # (on the staying worker: `leaving` is cordoned) lets it evict, reset and delete the node
    out_path = tmp_path / "remove-node.out"
    cmd = [sys.executable, "-m", "kboot.cli.main", "remove-node", str(lab.inventory_path),
           leaving, "--yes", "--timeout", "300"]
    with out_path.open("w") as sink, subprocess.Popen(
            cmd, env=kboot.env(), stdout=sink, stderr=subprocess.STDOUT, text=True) as proc:
        try:
            wait_until("remove-node waiting on the budget",
                       lambda: "The disruption budget guarded needs 2" in " ".join(
                           out_path.read_text().split()) or proc.poll() is not None,
                       timeout=120, interval=1)
            assert proc.poll() is None, out_path.read_text()[-3000:]
            assert on_leaving <= set(_pods(kubectl))  # still nothing evicted while it waits
            kubectl("-n", NS, "scale", "deployment/guarded", "--replicas=3")
            proc.wait(timeout=900)
        finally:
            if proc.poll() is None:
                proc.kill()
    out = " ".join(out_path.read_text().split())
    assert proc.returncode == 0, out[-3000:]
    assert f"waiting: eviction of {NS}/" in out and "retrying until --timeout (300s)" in out
    assert "cordoned and drained" in out
    assert leaving not in kubectl("get", "nodes", "-o", "name").stdout
    _settled(kubectl, 3, 1)
    assert {node for node, _ in _pods(kubectl).values()} <= {staying, f"{lab.name}-cp1"}
