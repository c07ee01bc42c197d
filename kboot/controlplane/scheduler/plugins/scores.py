"""Score plugins: rank feasible nodes 0-100 (higher is better)."""

from __future__ import annotations

from kboot.controlplane.scheduler.framework import CycleState
from kboot.controlplane.scheduler.plugins.filters import node_selector_term_matches
from kboot.controlplane.scheduler.snapshot import NodeInfo, PodInfo


class LeastAllocated:
    """Prefer nodes with the most free cpu and memory after placing the pod."""

    name = "NodeResourcesLeastAllocated"
    weight = 1

    def relevant(self, pod: PodInfo) -> bool:
        return True

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> float:
        alloc, used, want = node.allocatable, node.requested, pod.requests
        cpu = (alloc.cpu - used.cpu - want.cpu) / alloc.cpu if alloc.cpu > 0 else 0.0
        mem = (alloc.memory - used.memory - want.memory) / alloc.memory \
            if alloc.memory > 0 else 0.0
        pods = (alloc.pods - used.pods - 1) / alloc.pods if alloc.pods > 0 else 0.0
        return (max(0.0, cpu) + max(0.0, mem) + max(0.0, pods)) * (100 / 3)


class SelectorSpread:
    """Spread the replicas of one owner (ReplicaSet, StatefulSet, Job…) across nodes."""

    name = "SelectorSpread"
    weight = 2

    def relevant(self, pod: PodInfo) -> bool:
        return pod.owner_uid is not None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> float:
        if not pod.owner_uid:
            return 100.0
        same = node.owners.get(pod.owner_uid, 0)
        return 100.0 / (1 + same)


class PreferredNodeAffinity:
    name = "NodeAffinity"
    weight = 2

    def relevant(self, pod: PodInfo) -> bool:
        return bool((pod.affinity.get("nodeAffinity") or {})
                    .get("preferredDuringSchedulingIgnoredDuringExecution"))

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> float:
        terms = ((pod.affinity.get("nodeAffinity") or {})
                 .get("preferredDuringSchedulingIgnoredDuringExecution") or [])
        if not terms:
            return 0.0
        total = sum(int(t.get("weight", 1)) for t in terms)
        fields = {"metadata.name": node.name}
        got = sum(int(t.get("weight", 1)) for t in terms
                  if node_selector_term_matches(t.get("preference") or {}, node.labels, fields))
        return 100.0 * got / max(1, total)
