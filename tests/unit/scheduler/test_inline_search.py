"""The inlined search (NodeResourcesFit + LeastAllocated + SelectorSpread in one pass) makes
exactly the plugin path's decisions: same node, same diagnosis, same rotation, same tie-break."""

from __future__ import annotations

import random

import pytest

from kboot.controlplane.scheduler.framework import CycleState, Diagnosis
from kboot.controlplane.scheduler.plugins import spread
from kboot.controlplane.scheduler.scheduler import Algorithm, Decision
from kboot.controlplane.scheduler.snapshot import NodeInfo, PodInfo, Snapshot

from .test_plugins import Obj, node, owned, pod

TAINT = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}


ZONE = "topology.kubernetes.io/zone"
SPREAD = {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
          "labelSelector": {"matchLabels": {"app": "web"}}}


def _cluster(rng: random.Random, count: int) -> list[Obj]:
    out = []
    for i in range(count):
        shape = rng.random()
        labels = {ZONE: f"z{i % 3}"} if rng.random() < 0.95 else {}  # a few lack the key
        out.append(node(f"n{i}", labels=labels, cpu=rng.choice(["1", "2", "4", "500m"]),
                        memory=rng.choice(["1Gi", "4Gi", "8Gi"]), pods=rng.choice([3, 5, 110]),
                        taints=[TAINT] if shape < 0.1 else None, ready=shape < 0.9 or shape > 0.95,
                        unschedulable=0.95 < shape < 0.97))
    return out


def _pod(rng: random.Random, i: int) -> Obj:
    cpu = rng.choice([None, "100m", "250m", "1", "3"])
    memory = rng.choice([None, "64Mi", "1Gi", "6Gi"])
    p = owned(f"p{i}", rng.choice(["rs1", "rs2"])) if rng.random() < 0.5 else pod(f"p{i}")
    p["spec"]["containers"][0]["resources"]["requests"] = {
        k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    if rng.random() < 0.1:
        p["spec"]["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
    if rng.random() < 0.4:
        p["metadata"]["labels"] = {"app": "web"}
        p["spec"]["topologySpreadConstraints"] = [SPREAD]
    return p


def _plugin_path(algo: Algorithm, p: Obj) -> Decision:
    """The generic path the inlined one replaces (pre-filters, filters, scores)."""
    info, state = PodInfo.of(p), CycleState(algo.snapshot)
    skipped = {pre.name for pre in algo.profile.pre_filters
               if pre.pre_filter(state, info).code.name == "SKIP"}
    active = [f for f in algo.profile.filters if f.name not in skipped]
    on_plain = [f for f in active if not getattr(f, "passes_plain_nodes", False)]
    feasible, reasons = algo._feasible(state, info, active, on_plain)
    if not feasible:
        return Decision(None, Diagnosis(len(algo.snapshot.nodes), reasons))
    scorers = [s for s in algo.profile.scores if s.relevant(info)]
    return Decision(algo._best(state, info, feasible, scorers))


@pytest.mark.parametrize("seed,nodes,percentage", [(1, 40, 0), (2, 300, 0), (3, 300, 20),
                                                   (4, 7, 0), (5, 120, 0)])
def test_inline_search_decides_like_the_plugins(seed: int, nodes: int, percentage: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    cluster = _cluster(rng, nodes)
    snaps = (Snapshot(), Snapshot())
    for snap in snaps:
        for n in cluster:
            snap.set_node(n)
    inline, plugins = (Algorithm(s, percentage_of_nodes_to_score=percentage) for s in snaps)

    def no_generic(*_args: object) -> None:
        raise AssertionError("these pods take the inlined path")

    monkeypatch.setattr(inline, "_feasible", no_generic)
    placed = failed = 0
    for i in range(nodes * 3):
        p = _pod(rng, i)
        state = random.getstate()
        a = inline.schedule(p)
        random.setstate(state)
        b = _plugin_path(plugins, p)
        assert a.node == b.node, i
        assert (a.diagnosis and a.diagnosis.reasons) == (b.diagnosis and b.diagnosis.reasons)
        assert inline._start == plugins._start
        if a.node is not None:
            placed += 1
            for snap in snaps:
                snap.place(p, a.node)
        else:
            failed += 1
        if i % 7 == 0 and placed:  # pods leave too: the spread counts catch up
            gone = rng.choice(sorted(snaps[0].pod_node))
            for snap in snaps:
                snap.unplace({"metadata": {"name": gone.split("/")[1], "namespace": "ns"}})
    assert placed and failed  # both outcomes exercised: the clusters fill up


def test_pods_with_other_constraints_take_the_plugin_path() -> None:
    snap = Snapshot()
    for name in ("a", "b"):
        snap.set_node(node(name))
    algo = Algorithm(snap)
    calls = []
    real = algo._feasible

    def spy(*args: object) -> object:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    algo._feasible = spy  # type: ignore[method-assign]
    assert algo.schedule(pod(nodeSelector={"kubernetes.io/hostname": "b"})).node == "b"
    assert calls


def test_node_update_keeps_its_pods_and_free_resources() -> None:
    snap = Snapshot()
    snap.set_node(node("a", cpu="2", memory="4Gi", pods=10))
    snap.place(pod("x", cpu="500m", memory="1Gi"), "a")
    snap.place(owned("y", "rs1"), "a")
    snap.set_node(node("a", cpu="4", memory="4Gi", pods=10, labels={"new": "1"}))  # heartbeat
    info: NodeInfo = snap.nodes["a"]
    assert set(info.pods) == {"ns/x", "ns/y"} and info.owners["rs1"] == 1
    assert info.labels["new"] == "1"
    assert (info.free_cpu, info.free_memory, info.free_pods) == (3.5, 3 * 2**30, 8)
    snap.unplace(pod("x", cpu="500m", memory="1Gi"))
    assert (info.free_cpu, info.free_memory, info.free_pods) == (4.0, 4 * 2**30, 9)
    assert snap.node_list() == [info]


def _recount(snap: Snapshot, selector: Obj) -> dict[str, int]:
    """Matching pods per zone over the nodes with the zone key, from scratch."""
    out: dict[str, int] = {}
    for info in snap.nodes.values():
        if ZONE not in info.labels:
            continue
        zone = info.labels[ZONE]
        out[zone] = out.get(zone, 0) + sum(
            1 for p in info.pods.values() if p["metadata"]["namespace"] == "ns"
            and not p["metadata"].get("deletionTimestamp")
            and p["metadata"].get("labels", {}).get("app") == "web")
    return out


def test_spread_counts_follow_every_snapshot_change() -> None:
    rng = random.Random(7)
    snap = Snapshot()
    for n in _cluster(rng, 30):
        snap.set_node(n)
    web = pod("probe", labels={"app": "web"}, topologySpreadConstraints=[SPREAD])
    info = PodInfo.of(web)
    constraint = spread.constraints(info, "DoNotSchedule")
    for step in range(400):
        action = rng.random()
        names = sorted(snap.nodes)
        if action < 0.5:
            p = pod(f"w{step}", labels={"app": rng.choice(["web", "db"])})
            snap.place(p, rng.choice(names))
        elif action < 0.7 and snap.pod_node:
            key = rng.choice(sorted(snap.pod_node))
            snap.unplace({"metadata": {"name": key.split("/")[1], "namespace": "ns"}})
        elif action < 0.8 and snap.pod_node:  # a placed pod starts terminating
            key = rng.choice(sorted(snap.pod_node))
            host = snap.nodes.get(snap.pod_node[key])
            if host is None:  # its node was removed
                continue
            placed = host.pods[key]
            snap.refresh({**placed, "metadata": {**placed["metadata"],
                                                 "deletionTimestamp": "2026-01-01T00:00:00Z"}})
        elif action < 0.9:  # a node changes zone or loses the key
            name = rng.choice(names)
            labels = {ZONE: rng.choice(["z0", "z1", "z9"])} if rng.random() < 0.8 else {}
            snap.set_node(node(name, labels=labels))
        elif len(names) > 5:
            snap.remove_node(rng.choice(names))
        counts = spread.count(CycleState(snap), info, constraint)
        assert counts[0].per_domain == _recount(snap, SPREAD["labelSelector"]), step
