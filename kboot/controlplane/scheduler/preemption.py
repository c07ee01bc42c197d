"""Preemption (upstream's ``DefaultPreemption`` post-filter), as a pure decision over a snapshot.

When a pod fits nowhere, for each node: remove every pod of lower priority and check the pod
fits; if it does, give victims back one by one, most important first (higher priority, then
earlier start), keeping each whose return still lets the pod fit. Victims whose eviction
would break a PodDisruptionBudget (``status.disruptionsAllowed`` used up) are given back
first, so budgets are respected where another choice exists. Among the candidate nodes the
choice follows upstream's order: fewest budget violations, then the lowest highest-victim
priority, the lowest sum of victim priorities, the fewest victims, the latest start among the
most important victims. As upstream, the search stops once max(100, 10% of the nodes)
candidates are found, starting where the previous search stopped.

A pod with ``preemptionPolicy: Never`` never preempts; a pod already nominated to a node
whose lower-priority pods are still terminating waits for them instead of preempting again.
The scheduler (:mod:`.scheduler`) evicts the victims and sets ``status.nominatedNodeName``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kboot.controlplane.api.priorities import pod_priority
from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.meta import is_deleting, parse_time, selector_matches
from kboot.controlplane.scheduler.framework import (
    OK,
    SKIP,
    CycleState,
    FilterPlugin,
    PreFilterPlugin,
)
from kboot.controlplane.scheduler.snapshot import (
    NodeInfo,
    PodInfo,
    Resources,
    Snapshot,
    pod_requests,
)

# upstream's DefaultPreemption arguments: look for at least this many candidate nodes
MIN_CANDIDATES = 100
MIN_CANDIDATE_PERCENT = 10


@dataclass(frozen=True)
class Candidate:
    node: str
    victims: tuple[Obj, ...]
    violations: int


def eligible(pod: Obj, snapshot: Snapshot) -> bool:
    """Whether ``pod`` may preempt now (upstream's ``PodEligibleToPreemptOthers``)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    if spec.get("preemptionPolicy") == "Never":
        return False
    nominated = snapshot.nodes.get(str(status.get("nominatedNodeName") or ""))
    if nominated is None:
        return True
    mine = pod_priority(pod)
    return not any(is_deleting(p) and pod_priority(p) < mine for p in nominated.pods.values())


def _start(pod: Obj) -> float:
    return parse_time((pod.get("status") or {}).get("startTime")) or float("inf")


def _importance(pod: Obj) -> tuple[int, float]:
    """Sort key: most important first (higher priority, then started earlier)."""
    return (-pod_priority(pod), _start(pod))


class _Budgets:
    """Disruptions still allowed per PDB while victims are counted against them."""

    def __init__(self, pdbs: Sequence[Obj]) -> None:
        self.pdbs = list(pdbs)
        self.left = [int((p.get("status") or {}).get("disruptionsAllowed") or 0) for p in pdbs]

    def violates(self, pod: Obj) -> bool:
        md = pod.get("metadata") or {}
        broken = False
        for i, pdb in enumerate(self.pdbs):
            if (pdb.get("metadata") or {}).get("namespace") != md.get("namespace"):
                continue
            selector = (pdb.get("spec") or {}).get("selector")
            if not selector or not selector_matches(selector, md.get("labels") or {}):
                continue
            if md.get("name") in ((pdb.get("status") or {}).get("disruptedPods") or {}):
                continue
            self.left[i] -= 1
            broken = broken or self.left[i] < 0
        return broken


class Preemptor:
    def __init__(self, snapshot: Snapshot, filters: Sequence[FilterPlugin],
                 pre_filters: Sequence[PreFilterPlugin]) -> None:
        self.snapshot = snapshot
        self.filters = filters
        self.pre_filters = pre_filters
        self._offset = 0

    def find(self, pod: Obj, pdbs: Sequence[Obj]) -> Candidate | None:
        """The node and victims to preempt for ``pod``, or None."""
        if not eligible(pod, self.snapshot):
            return None
        info, state = PodInfo.of(pod), CycleState(self.snapshot)
        skipped = {p.name for p in self.pre_filters if p.pre_filter(state, info) is SKIP}
        active = [f for f in self.filters if f.name not in skipped]
        mine = pod_priority(pod)
        candidates: list[Candidate] = []
        nodes = list(self.snapshot.nodes.values())
        want = max(MIN_CANDIDATES, len(nodes) * MIN_CANDIDATE_PERCENT // 100)
        for i in range(len(nodes)):  # from where the last search stopped, as upstream
            node = nodes[(self._offset + i) % len(nodes)]
            found = self._victims(state, info, active, node, mine, pdbs)
            if found is not None:
                candidates.append(found)
                if len(candidates) >= want:
                    self._offset = (self._offset + i + 1) % len(nodes)
                    break
        return pick(candidates)

    def _victims(self, state: CycleState, pod: PodInfo, active: list[FilterPlugin],
                 node: NodeInfo, mine: int, pdbs: Sequence[Obj]) -> Candidate | None:
        alloc, want = node.allocatable, pod.requests
        if want.cpu > alloc.cpu + 1e-9 or want.memory > alloc.memory:
            return None  # not even on an empty node
        lower = {k: p for k, p in node.pods.items() if pod_priority(p) < mine and k != pod.key}
        if not lower or not _room_without(node, lower.values(), pod):
            return None
        keep = [p for k, p in node.pods.items() if k not in lower and k != pod.key]
        trial = _node_with(node, keep)
        if not _fits(state, pod, active, trial):
            return None
        budgets = _Budgets(pdbs)
        ordered = sorted(lower.values(), key=_importance)
        breaking = [p for p in ordered if budgets.violates(p)]
        safe = [p for p in ordered if not any(p is b for b in breaking)]
        victims, violations = [], 0
        for group, counts in ((breaking, True), (safe, False)):
            for p in group:
                trial.add_pod(p)
                if not _fits(state, pod, active, trial):
                    trial.remove_pod(p)
                    victims.append(p)
                    violations += counts
        return Candidate(node.name, tuple(victims), violations) if victims else None


def _room_without(node: NodeInfo, victims: Iterable[Obj], pod: PodInfo) -> bool:
    """Cheap first check: would cpu, memory and pod count fit with every victim gone?"""
    freed = sum((pod_requests(v) for v in victims), Resources())
    used = node.requested - freed
    room = node.allocatable - used
    want = pod.requests
    return (used.pods + 1 <= node.allocatable.pods and want.cpu <= room.cpu + 1e-9
            and want.memory <= room.memory)


def _node_with(node: NodeInfo, pods: list[Obj]) -> NodeInfo:
    trial = NodeInfo.of(node.node)
    for p in pods:
        trial.add_pod(p)
    return trial


def _fits(state: CycleState, pod: PodInfo, active: list[FilterPlugin], node: NodeInfo) -> bool:
    return all(f.filter(state, pod, node) is OK for f in active)


def pick(candidates: Sequence[Candidate]) -> Candidate | None:
    """Upstream's ``pickOneNodeForPreemption`` order of criteria."""
    if not candidates:
        return None

    def rank(c: Candidate) -> tuple[int, int, int, int, float]:
        priorities = [pod_priority(v) for v in c.victims]
        top = max(priorities)
        earliest_top = min(_start(v) for v in c.victims if pod_priority(v) == top)
        return (c.violations, top, sum(p + 2 ** 31 for p in priorities), len(c.victims),
                -earliest_top)

    return min(candidates, key=rank)
