"""Each filter and score plugin as a table of cases."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.scheduler.framework import Code, CycleState
from kboot.controlplane.scheduler.plugins import filters, scores
from kboot.controlplane.scheduler.snapshot import NodeInfo, PodInfo, Snapshot, parse_quantity

Obj = dict[str, Any]


def node(name: str = "n1", *, labels: dict[str, str] | None = None, cpu: str = "4",
         memory: str = "8Gi", pods: int = 110, taints: list[Obj] | None = None,
         ready: bool = True, unschedulable: bool = False) -> Obj:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  **(labels or {})}},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": str(pods)},
                       "conditions": [{"type": "Ready",
                                       "status": "True" if ready else "False"}]}}


def pod(name: str = "p", *, cpu: str | None = None, memory: str | None = None,
        labels: dict[str, str] | None = None, **spec: Any) -> Obj:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    return {"metadata": {"name": name, "namespace": "ns", "labels": labels or {}},
            "spec": {"containers": [{"name": "c", "resources": {"requests": requests}}],
                     **spec}}


def web_pod(kind: str, selects: str, key: str = "kubernetes.io/hostname") -> Obj:
    """Pod ``p`` (app=web) with one required ``kind`` term selecting app=``selects``."""
    term = {"labelSelector": {"matchLabels": {"app": selects}}, "topologyKey": key}
    return pod(labels={"app": "web"},
               affinity={kind: {"requiredDuringSchedulingIgnoredDuringExecution": [term]}})


def check(plugin: Any, p: Obj, n: Obj, placed: list[Obj] | None = None) -> tuple[Code, str]:
    snap = Snapshot()
    snap.set_node(n)
    for other in placed or []:
        snap.place(other, n["metadata"]["name"])
    state = CycleState(snap)
    info = PodInfo.of(p)
    if hasattr(plugin, "pre_filter"):
        plugin.pre_filter(state, info)
    status = plugin.filter(state, info, snap.nodes[n["metadata"]["name"]])
    return status.code, status.reason


@pytest.mark.parametrize("text,expected", [("100m", 0.1), ("2", 2.0), ("1.5", 1.5),
                                           ("128Mi", 128 * 2 ** 20), ("1G", 1e9),
                                           ("1e3", 1000.0)])
def test_quantities(text: str, expected: float) -> None:
    assert parse_quantity(text) == pytest.approx(expected)


OKR = (Code.SUCCESS, "")

CASES = [
    # (plugin, pod, node, placed pods, expected (code, reason))
    (filters.NodeReady(), pod(), node(), [], OKR),
    (filters.NodeReady(), pod(), node(ready=False), [],
     (Code.UNSCHEDULABLE, "node(s) were not ready")),
    (filters.NodeUnschedulable(), pod(), node(unschedulable=True), [],
     (Code.UNRESOLVABLE, "node(s) were unschedulable")),
    (filters.NodeName(), pod(nodeName="n2"), node(), [],
     (Code.UNRESOLVABLE, "node(s) didn't match the requested node name")),
    (filters.NodeName(), pod(nodeName="n1"), node(), [], OKR),
    (filters.NodeResourcesFit(), pod(cpu="3"), node(), [pod("a", cpu="2")],
     (Code.UNSCHEDULABLE, "Insufficient cpu")),
    (filters.NodeResourcesFit(), pod(cpu="2"), node(), [pod("a", cpu="2")], OKR),
    (filters.NodeResourcesFit(), pod(memory="9Gi"), node(), [],
     (Code.UNSCHEDULABLE, "Insufficient memory")),
    (filters.NodeResourcesFit(), pod(), node(pods=1), [pod("a")],
     (Code.UNSCHEDULABLE, "Too many pods")),
    (filters.NodeAffinity(), pod(nodeSelector={"disk": "ssd"}), node(labels={"disk": "ssd"}),
     [], OKR),
    (filters.NodeAffinity(), pod(nodeSelector={"disk": "ssd"}), node(), [],
     (Code.UNRESOLVABLE, "node(s) didn't match Pod's node affinity/selector")),
    (filters.NodeAffinity(),
     pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
         "nodeSelectorTerms": [{"matchExpressions": [
             {"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}}),
     node(labels={"zone": "c"}), [],
     (Code.UNRESOLVABLE, "node(s) didn't match Pod's node affinity/selector")),
    (filters.NodeAffinity(),
     pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
         "nodeSelectorTerms": [{"matchExpressions": [
             {"key": "cores", "operator": "Gt", "values": ["4"]}]}]}}}),
     node(labels={"cores": "8"}), [], OKR),
    (filters.TaintToleration(), pod(),
     node(taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]), [],
     (Code.UNRESOLVABLE, "node(s) had untolerated taint {dedicated: gpu}")),
    (filters.TaintToleration(),
     pod(tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu",
                       "effect": "NoSchedule"}]),
     node(taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]), [], OKR),
    (filters.TaintToleration(), pod(tolerations=[{"operator": "Exists"}]),
     node(taints=[{"key": "x", "effect": "NoExecute"}]), [], OKR),
    (filters.TaintToleration(), pod(),
     node(taints=[{"key": "x", "effect": "PreferNoSchedule"}]), [], OKR),
    (filters.NodePorts(),
     {"metadata": {"name": "p", "namespace": "ns"},
      "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80,
                                                         "hostPort": 8080}]}]}},
     node(),
     [{"metadata": {"name": "a", "namespace": "ns"},
       "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80,
                                                          "hostPort": 8080}]}]}}],
     (Code.UNSCHEDULABLE, "node(s) didn't have free ports for the requested pod ports")),
    (filters.InterPodAntiAffinity(),
     web_pod("podAntiAffinity", "web"),
     node(), [pod("a", labels={"app": "web"})],
     (Code.UNSCHEDULABLE, "node(s) didn't match pod anti-affinity rules")),
    (filters.InterPodAntiAffinity(),
     web_pod("podAntiAffinity", "web"),
     node(), [pod("a", labels={"app": "db"})], OKR),
    # required pod affinity: a matching pod must share the node's domain ...
    (filters.InterPodAffinity(),
     web_pod("podAffinity", "db"),
     node(), [pod("a", labels={"app": "db"})], OKR),
    (filters.InterPodAffinity(),
     web_pod("podAffinity", "db"),
     node(), [], (Code.UNSCHEDULABLE, "node(s) didn't match pod affinity rules")),
    # ... except for the first pod of a group that selects itself
    (filters.InterPodAffinity(),
     web_pod("podAffinity", "web"),
     node(), [], OKR),
    # a zone-wide term: a matching pod in another namespace does not count
    (filters.InterPodAffinity(),
     web_pod("podAffinity", "db", key="zone"),
     node(labels={"zone": "z1"}),
     [{**pod("a", labels={"app": "db"}),
       "metadata": {"name": "a", "namespace": "other", "labels": {"app": "db"}}}],
     (Code.UNSCHEDULABLE, "node(s) didn't match pod affinity rules")),
]


@pytest.mark.parametrize("plugin,p,n,placed,expected", CASES,
                         ids=[f"{getattr(c[0], 'name', '')}-{i}" for i, c in enumerate(CASES)])
def test_filters(plugin: Any, p: Obj, n: Obj, placed: list[Obj],
                 expected: tuple[Code, str]) -> None:
    assert check(plugin, p, n, placed) == expected


def owned(name: str, uid: str) -> Obj:
    p = pod(name)
    p["metadata"]["ownerReferences"] = [{"uid": uid, "controller": True, "kind": "ReplicaSet",
                                         "name": "rs", "apiVersion": "apps/v1"}]
    return p


@pytest.mark.parametrize("plugin,p,placed_a,placed_b,better", [
    (scores.LeastAllocated(), pod(cpu="1"), [pod("x", cpu="3")], [], "b"),
    (scores.LeastAllocated(), pod(cpu="1"), [], [pod("x", memory="7Gi")], "a"),
    (scores.SelectorSpread(), owned("p", "u1"), [owned("x", "u1")], [owned("y", "u2")], "b"),
    (scores.PreferredNodeAffinity(),
     pod(affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
         {"weight": 10, "preference": {"matchExpressions": [
             {"key": "kubernetes.io/hostname", "operator": "In", "values": ["a"]}]}}]}}),
     [], [], "a"),
    (scores.PreferredPodAffinity(),
     pod(affinity={"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
         {"weight": 50, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}},
                                            "topologyKey": "kubernetes.io/hostname"}}]}}),
     [], [pod("d", labels={"app": "db"})], "b"),
    (scores.PreferredPodAffinity(),
     pod(affinity={"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
         {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}},
                                             "topologyKey": "kubernetes.io/hostname"}}]}}),
     [pod("w", labels={"app": "web"})], [], "b"),
])
def test_scores_prefer_the_better_node(plugin: Any, p: Obj, placed_a: list[Obj],
                                       placed_b: list[Obj], better: str) -> None:
    snap = Snapshot()
    snap.set_node(node("a"))
    snap.set_node(node("b"))
    for other in placed_a:
        snap.place(other, "a")
    for other in placed_b:
        snap.place(other, "b")
    state, info = CycleState(snap), PodInfo.of(p)
    sa = plugin.score(state, info, snap.nodes["a"])
    sb = plugin.score(state, info, snap.nodes["b"])
    assert 0 <= sa <= 100 and 0 <= sb <= 100
    assert (sa > sb) == (better == "a") and sa != sb


def test_snapshot_tracks_requests_through_place_and_unplace() -> None:
    snap = Snapshot()
    p = pod("a", cpu="500m")
    snap.place(p, "late")  # pod seen before its node
    snap.set_node(node("late"))
    info: NodeInfo = snap.nodes["late"]
    assert info.requested.cpu == pytest.approx(0.5) and info.requested.pods == 1
    snap.unplace(p)
    assert info.requested.cpu == pytest.approx(0.0) and info.requested.pods == 0
