"""Preemption: victim selection and node choice (upstream's default_preemption tables), and
the scheduler evicting victims and nominating the node over the fake apiserver."""

from __future__ import annotations

import asyncio
from typing import Any

from kboot.controlplane.client.api import DeleteOptions
from kboot.controlplane.client.clock import run_until_idle
from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.client.informer import Informers
from kboot.controlplane.scheduler.preemption import Candidate, Preemptor, pick
from kboot.controlplane.scheduler.scheduler import Scheduler, default_profile
from kboot.controlplane.scheduler.snapshot import Snapshot

from .test_plugins import node, pod

Obj = dict[str, Any]


def prio(name: str, priority: int, cpu: str = "1", *, start: str = "2026-01-01T00:00:00Z",
         labels: dict[str, str] | None = None, **spec: Any) -> Obj:
    p = pod(name, cpu=cpu, labels=labels, priority=priority, **spec)
    p["status"] = {"startTime": start}
    return p


def cluster(placement: dict[str, list[Obj]], cpu: str = "2") -> Snapshot:
    snap = Snapshot()
    for name, pods in placement.items():
        snap.set_node(node(name, cpu=cpu))
        for p in pods:
            snap.place(p, name)
    return snap


def find(snap: Snapshot, incoming: Obj, pdbs: list[Obj] | None = None) -> Candidate | None:
    profile = default_profile()
    return Preemptor(snap, profile.filters, profile.pre_filters).find(incoming, pdbs or [])


def names(c: Candidate | None) -> tuple[str, list[str]] | None:
    return None if c is None else (c.node, sorted(v["metadata"]["name"] for v in c.victims))


def test_minimal_victims_least_important_first() -> None:
    snap = cluster({"a": [prio("low-old", 1, start="2026-01-01T00:00:00Z"),
                          prio("low-new", 1, start="2026-01-01T01:00:00Z")]})
    assert names(find(snap, prio("high", 100))) == ("a", ["low-new"])


def test_lower_priority_victims_go_before_higher_ones() -> None:
    snap = cluster({"a": [prio("mid", 50), prio("low", 1)]})
    assert names(find(snap, prio("high", 100))) == ("a", ["low"])


def test_no_victims_among_equal_or_higher_priorities() -> None:
    snap = cluster({"a": [prio("same", 100), prio("higher", 200)]})
    assert find(snap, prio("high", 100)) is None


def test_preemption_policy_never() -> None:
    snap = cluster({"a": [prio("low", 1, cpu="2")]})
    assert find(snap, prio("high", 100, preemptionPolicy="Never")) is None


def test_a_pod_that_would_not_fit_anyway_preempts_nothing() -> None:
    snap = cluster({"a": [prio("low", 1)]})
    assert find(snap, prio("huge", 100, cpu="3")) is None


def test_pdb_protected_victims_are_avoided() -> None:
    snap = cluster({"a": [prio("guarded", 1, cpu="2", labels={"app": "db"})],
                    "b": [prio("free", 5, cpu="2", labels={"app": "web"})]})
    pdb = {"metadata": {"name": "db", "namespace": "ns"},
           "spec": {"selector": {"matchLabels": {"app": "db"}}},
           "status": {"disruptionsAllowed": 0}}
    assert names(find(snap, prio("high", 100, cpu="2"), [pdb])) == ("b", ["free"])
    assert names(find(snap, prio("high", 100, cpu="2"))) == ("a", ["guarded"])  # no budget


def test_node_choice_order() -> None:
    low, mid = prio("v1", 1), prio("v2", 10)
    assert pick([Candidate("a", (mid,), 0), Candidate("b", (low,), 0)]).node == "b"
    assert pick([Candidate("a", (low,), 1), Candidate("b", (mid,), 0)]).node == "b"
    two = (prio("v3", 1), prio("v4", 1))
    assert pick([Candidate("a", two, 0), Candidate("b", (prio("v5", 1), ), 0)]).node == "b"
    early, late = prio("e", 1, start="2026-01-01T00:00:00Z"), prio("l", 1,
                                                                     start="2026-01-02T00:00:00Z")
    assert pick([Candidate("a", (early,), 0), Candidate("b", (late,), 0)]).node == "b"
    assert pick([]) is None


def test_a_nominated_pod_waits_for_its_terminating_victims() -> None:
    victim = prio("low", 1, cpu="2")
    victim["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    snap = cluster({"a": [victim], "b": [prio("other", 1, cpu="2")]})
    waiting = prio("high", 100, cpu="2")
    waiting["status"]["nominatedNodeName"] = "a"
    assert find(snap, waiting) is None


def test_scheduler_evicts_the_victim_nominates_then_binds() -> None:
    async def go() -> None:
        fake = FakeClient()
        fake.seed("nodes", node("a", cpu="1"))
        low = prio("low", 0)
        low["spec"]["nodeName"] = "a"
        fake.seed("pods", low)
        informers = Informers(fake)
        sched = Scheduler(fake, pods=informers.get("pods"), nodes=informers.get("nodes"),
                          pdbs=informers.get("poddisruptionbudgets"))
        informers.start()
        await informers.wait_synced(2)
        task = asyncio.create_task(sched.run())
        high = prio("high", 1000)
        del high["status"]
        await fake.create("pods", high)
        await run_until_idle()
        await sched.recorder.flush()

        def pods() -> dict[str, Obj]:
            return {p["metadata"]["name"]: p for p in fake.all("pods", "ns")}

        # the victim terminates (graceful: the kubelet finishes it), the node is nominated
        assert pods()["low"]["metadata"].get("deletionTimestamp")
        assert pods()["low"]["status"]["conditions"][0]["reason"] == "PreemptionByScheduler"
        assert pods()["high"]["status"]["nominatedNodeName"] == "a"
        assert not pods()["high"]["spec"].get("nodeName")
        sched.queue.add("ns/high")  # a retry while the victim terminates preempts nothing more
        await run_until_idle()
        await sched.recorder.flush()
        events = fake.all("events", "ns")
        [preempted] = [e for e in events if e["reason"] == "Preempted"]
        assert preempted["involvedObject"]["name"] == "low"
        assert preempted["message"].endswith("on node a")
        # a low pod created meanwhile must not take the room reserved for the nominated pod
        await fake.create("pods", prio("sneaky", 0))
        await run_until_idle()
        assert not pods()["sneaky"]["spec"].get("nodeName")
        await fake.delete("pods", "low", namespace="ns",
                          options=DeleteOptions(grace_period_seconds=0))
        await run_until_idle()
        assert pods()["high"]["spec"]["nodeName"] == "a"
        assert not pods()["sneaky"]["spec"].get("nodeName")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await informers.stop()

    asyncio.run(go())
