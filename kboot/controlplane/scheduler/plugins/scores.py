"""Score plugins: rank feasible nodes 0-100 (higher is better)."""

from __future__ import annotations

from typing import Any

from kboot.controlplane.scheduler.framework import CycleState
from kboot.controlplane.scheduler.plugins.filters import (
    domain_of,
    matching_domains,
    node_selector_term_matches,
)
from kboot.controlplane.scheduler.snapshot import NodeInfo, PodInfo


class LeastAllocated:
    """Prefer nodes with the most free cpu and memory after placing the pod."""

    name = "NodeResourcesLeastAllocated"
    weight = 1

    def relevant(self, pod: PodInfo) -> bool:
        return True

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> float:
        alloc, want = node.allocatable, pod.requests
        cpu = (node.free_cpu - want.cpu) / alloc.cpu if alloc.cpu > 0 else 0.0
        mem = (node.free_memory - want.memory) / alloc.memory if alloc.memory > 0 else 0.0
        pods = (node.free_pods - 1) / alloc.pods if alloc.pods > 0 else 0.0
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


class PreferredPodAffinity:
    """Preferred pod affinity (+weight) and anti-affinity (-weight): a node scores the weights
    of the terms whose selected pods share its topology domain, scaled to 0-100."""

    name = "InterPodAffinity"
    weight = 2

    @staticmethod
    def _terms(pod: PodInfo) -> list[tuple[int, dict[str, Any]]]:
        out: list[tuple[int, dict[str, Any]]] = []
        for kind, sign in (("podAffinity", 1), ("podAntiAffinity", -1)):
            section = pod.affinity.get(kind) or {}
            for term in section.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
                out.append((sign * int(term.get("weight", 1)),
                            term.get("podAffinityTerm") or {}))
        return out

    def relevant(self, pod: PodInfo) -> bool:
        return bool(self._terms(pod))

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> float:
        cached: list[tuple[int, str, set[str]]] | None = state.data.get(self.name)
        if cached is None:  # domains once per scheduling attempt
            cached = [(w, *matching_domains(state, pod, t)) for w, t in self._terms(pod)]
            state.data[self.name] = cached
        plus = sum(w for w, _, _ in cached if w > 0)
        minus = -sum(w for w, _, _ in cached if w < 0)
        raw = sum(w for w, key, domains in cached if domain_of(node, key) in domains)
        return 100.0 * (raw + minus) / max(1, plus + minus)
