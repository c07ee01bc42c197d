"""Score plugins: rank feasible nodes 0-100 (higher is better)."""

from __future__ import annotations

from kboot.controlplane.scheduler.framework import CycleState
from kboot.controlplane.scheduler.plugins.filters import node_selector_term_matches
from kboot.controlplane.scheduler.snapshot import NodeInfo, PodInfo


class LeastAllocated:
    """Prefer nodes with the most free cpu and memory after placing the pod."""

    name = "NodeResourcesLeastAllocated"
    weight = 1

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> float:
        parts = []
        for req, alloc in ((node.requested.cpu + pod.requests.cpu, node.allocatable.cpu),
                           (node.requested.memory + pod.requests.memory,
                            node.allocatable.memory)):
            parts.append(0.0 if alloc <= 0 else max(0.0, (alloc - req) / alloc) * 100)
        pods_free = node.allocatable.pods - node.requested.pods - 1
        parts.append(max(0.0, pods_free / max(1, node.allocatable.pods)) * 100)
        return sum(parts) / len(parts)


class SelectorSpread:
    """Spread the replicas of one owner (ReplicaSet, StatefulSet, Job…) across nodes."""

    name = "SelectorSpread"
    weight = 2

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> float:
        if not pod.owner_uid:
            return 100.0
        same = node.owners.get(pod.owner_uid, 0)
        return 100.0 / (1 + same)


class PreferredNodeAffinity:
    name = "NodeAffinity"
    weight = 2

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
