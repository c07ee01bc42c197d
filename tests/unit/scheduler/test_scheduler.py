"""The algorithm's summary messages, and the scheduler over the fake apiserver."""

from __future__ import annotations

import asyncio

from kboot.controlplane.client.clock import run_until_idle
from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.client.informer import Informers
from kboot.controlplane.scheduler.scheduler import Algorithm, Scheduler, nodes_to_find
from kboot.controlplane.scheduler.snapshot import Snapshot

from .test_plugins import Obj, node, owned, pod


def test_failure_message_counts_reasons_per_node_class() -> None:
    snap = Snapshot()
    snap.set_node(node("a", taints=[{"key": "node-role.kubernetes.io/control-plane",
                                     "effect": "NoSchedule"}]))
    snap.set_node(node("b", cpu="1"))
    snap.set_node(node("c", cpu="1"))
    decision = Algorithm(snap).schedule(pod(cpu="2"))
    assert decision.node is None and decision.diagnosis is not None
    assert decision.diagnosis.message() == (
        "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }.")


def test_replicas_spread_over_nodes() -> None:
    snap = Snapshot()
    for n in ("a", "b", "c"):
        snap.set_node(node(n))
    algo = Algorithm(snap)
    placed = []
    for i in range(3):
        p = owned(f"p{i}", "rs1")
        d = algo.schedule(p)
        assert d.node is not None
        snap.place(p, d.node)
        placed.append(d.node)
    assert sorted(placed) == ["a", "b", "c"]


def test_large_clusters_search_a_fraction() -> None:
    assert nodes_to_find(50, 0) == 50
    assert nodes_to_find(1000, 0) == 420
    assert nodes_to_find(5000, 0) == 500
    assert nodes_to_find(1000, 10) == 100


def test_scheduler_binds_pods_and_reports_unschedulable_ones() -> None:
    async def go() -> tuple[list[Obj], list[Obj]]:
        fake = FakeClient()
        for n in ("a", "b"):
            fake.seed("nodes", node(n, cpu="1"))
        informers = Informers(fake)
        sched = Scheduler(fake, pods=informers.get("pods"), nodes=informers.get("nodes"))
        informers.start()
        await informers.wait_synced(2)
        task = asyncio.create_task(sched.run())
        for i in range(2):
            await fake.create("pods", pod(f"ok{i}", cpu="600m"))
        await fake.create("pods", pod("huge", cpu="2"))
        await run_until_idle()  # the fake client answers in-loop: idle means all handled
        assert sched.scheduled == 2
        await sched.recorder.flush()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await informers.stop()
        return fake.all("pods", "ns"), fake.all("events", "ns")

    pods, events = asyncio.run(go())
    nodes = {p["metadata"]["name"]: p["spec"].get("nodeName") for p in pods}
    assert nodes["huge"] is None
    assert {nodes["ok0"], nodes["ok1"]} == {"a", "b"}  # 600m each: one per node
    failed = [e for e in events if e["reason"] == "FailedScheduling"]
    assert failed and failed[0]["involvedObject"]["name"] == "huge"
    assert failed[0]["message"] == "0/2 nodes are available: 2 Insufficient cpu."
    assert sum(e["reason"] == "Scheduled" for e in events) == 2


def test_plain_node_fast_path_keeps_every_filter_on_other_nodes() -> None:
    """Filters skipped on ready, schedulable, untainted nodes still run everywhere else."""
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    snap = Snapshot()
    snap.set_node(node("not-ready", ready=False))
    snap.set_node(node("cordoned", unschedulable=True))
    snap.set_node(node("tainted", taints=[taint]))
    snap.set_node(node("full", cpu="1"))
    assert [n.plain for n in snap.nodes.values()] == [False, False, False, True]
    algo = Algorithm(snap)
    refused = algo.schedule(pod(cpu="2"))
    assert refused.node is None and refused.diagnosis is not None
    assert refused.diagnosis.message() == (
        "0/4 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint "
        "{dedicated: gpu}, 1 node(s) were not ready, 1 node(s) were unschedulable.")
    tolerating = pod(cpu="2", tolerations=[{"key": "dedicated", "operator": "Equal",
                                            "value": "gpu", "effect": "NoSchedule"}])
    assert algo.schedule(tolerating).node == "tainted"
