"""PodTopologySpread filter and score, after upstream's filtering_test/scoring_test tables."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.scheduler.framework import OK, Code, CycleState
from kboot.controlplane.scheduler.plugins.spread import PodTopologySpread, PodTopologySpreadScore
from kboot.controlplane.scheduler.snapshot import PodInfo, Snapshot
from tests.unit.scheduler.test_plugins import node, pod

Obj = dict[str, Any]
ZONE = "zone"
HOST = "kubernetes.io/hostname"

# node-a, node-b in zone1; node-x, node-y in zone2 (upstream's fixture)
NODES = {"node-a": "zone1", "node-b": "zone1", "node-x": "zone2", "node-y": "zone2"}


def constraint(key: str, skew: int = 1, mode: str = "DoNotSchedule", **extra: Any) -> Obj:
    return {"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": mode,
            "labelSelector": {"matchExpressions": [{"key": "foo", "operator": "Exists"}]},
            **extra}


def snapshot(placed: dict[str, int], *, nodes: dict[str, str | None] | None = None,
             namespace: str = "ns") -> Snapshot:
    snap = Snapshot()
    for name, zone in (nodes if nodes is not None else NODES).items():
        snap.set_node(node(name, labels={ZONE: zone} if zone else {}))
    for name, n in placed.items():
        for i in range(n):
            p = pod(f"{name}-{i}", labels={"foo": ""})
            p["metadata"]["namespace"] = namespace
            snap.place(p, name)
    return snap


def feasible(snap: Snapshot, incoming: Obj) -> dict[str, Code]:
    plugin = PodTopologySpread()
    state, info = CycleState(snap), PodInfo.of(incoming)
    if plugin.pre_filter(state, info) is not OK:
        return {name: Code.SUCCESS for name in snap.nodes}
    return {name: plugin.filter(state, info, n).code for name, n in snap.nodes.items()}


def fits(result: dict[str, Code]) -> set[str]:
    return {name for name, code in result.items() if code is Code.SUCCESS}


def incoming(*constraints: Obj, **spec: Any) -> Obj:
    return pod("p", labels={"foo": ""}, topologySpreadConstraints=list(constraints), **spec)


CASES = [
    ("no existing pods", {}, [constraint(ZONE)], set(NODES)),
    ("no existing pods, incoming pod doesn't match itself", {},
     [{**constraint(ZONE), "labelSelector": {"matchLabels": {"bar": "x"}}}], set(NODES)),
    ("pods spread across zones as 3/3, all nodes fit", {"node-a": 1, "node-b": 2, "node-x": 3},
     [constraint(ZONE)], set(NODES)),
    ("pods spread across zones as 3/1, only zone2 fits",
     {"node-a": 2, "node-b": 1, "node-x": 1}, [constraint(ZONE)], {"node-x", "node-y"}),
    ("pods spread across nodes as 2/1/0/3, only node-x fits",
     {"node-a": 2, "node-b": 1, "node-y": 3}, [constraint(HOST)], {"node-x"}),
    ("pods spread across nodes as 2/1/0/3, maxSkew is 2, node-b and node-x fit",
     {"node-a": 2, "node-b": 1, "node-y": 3}, [constraint(HOST, 2)], {"node-b", "node-x"}),
    ("two constraints: zone and node, only node-x fits",
     {"node-a": 1, "node-b": 1, "node-y": 1}, [constraint(ZONE), constraint(HOST)],
     {"node-x"}),
    ("minDomains 3 with two domains: the global minimum is 0",
     {"node-a": 1, "node-x": 1}, [constraint(ZONE, minDomains=3)], set()),
    ("minDomains 2 with two domains: the real minimum",
     {"node-a": 1, "node-x": 1}, [constraint(ZONE, minDomains=2)], set(NODES)),
]


@pytest.mark.parametrize(("placed", "constraints", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_filter_table(placed: dict[str, int], constraints: list[Obj],
                      expected: set[str]) -> None:
    assert fits(feasible(snapshot(placed), incoming(*constraints))) == expected


def test_node_without_the_key_is_unresolvable_and_not_a_domain() -> None:
    snap = snapshot({"node-a": 1}, nodes={"node-a": "zone1", "node-b": None, "node-x": "zone2"})
    result = feasible(snap, incoming(constraint(ZONE)))
    assert result == {"node-a": Code.UNSCHEDULABLE, "node-b": Code.UNRESOLVABLE,
                      "node-x": Code.SUCCESS}


def test_pods_of_other_namespaces_do_not_count() -> None:
    snap = snapshot({"node-a": 3}, namespace="other")
    assert fits(feasible(snap, incoming(constraint(ZONE)))) == set(NODES)


def test_node_affinity_is_honoured_when_counting() -> None:
    # zone2 is excluded by the pod's node selector: zone1's pods are compared only among zone1
    snap = snapshot({"node-a": 2})
    for name in ("node-a", "node-b"):
        snap.nodes[name].labels["disk"] = "ssd"
    p = incoming(constraint(ZONE), nodeSelector={"disk": "ssd"})
    assert fits(feasible(snap, p)) >= {"node-a", "node-b"}
    ignore = incoming(constraint(ZONE, nodeAffinityPolicy="Ignore"), nodeSelector={"disk": "ssd"})
    assert fits(feasible(snap, ignore)) == {"node-x", "node-y"}


def test_match_label_keys_narrow_the_selector() -> None:
    snap = snapshot({"node-a": 2})  # those pods have no "rev" label
    p = incoming(constraint(ZONE, matchLabelKeys=["rev"]))
    p["metadata"]["labels"]["rev"] = "2"
    assert fits(feasible(snap, p)) == set(NODES)


def test_schedule_anyway_scores_the_emptier_domain_higher() -> None:
    snap = snapshot({"node-a": 2, "node-b": 1})
    plugin = PodTopologySpreadScore()
    info = PodInfo.of(incoming(constraint(ZONE, mode="ScheduleAnyway")))
    assert plugin.relevant(info)
    assert fits(feasible(snap, info.pod)) == set(NODES)  # soft: no filtering
    state = CycleState(snap)
    scores = {n: plugin.score(state, info, snap.nodes[n]) for n in NODES}
    assert scores["node-x"] == scores["node-y"] == 100.0
    assert scores["node-a"] == scores["node-b"] == 0.0
