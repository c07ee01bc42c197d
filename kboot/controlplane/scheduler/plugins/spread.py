"""PodTopologySpread: ``spec.topologySpreadConstraints`` as a filter and a score plugin.

As upstream (``pkg/scheduler/framework/plugins/podtopologyspread``):

- Domains are the values of ``topologyKey`` on the nodes that pass the pod's node selector and
  required node affinity (``nodeAffinityPolicy: Honor``; ``Ignore`` counts every node) and carry
  every key of the pod's constraints. Pods counted are those in the pod's namespace matching
  ``labelSelector`` (plus ``matchLabelKeys``: the pod's own values of those labels), not being
  deleted.
- Filter (``whenUnsatisfiable: DoNotSchedule``): placing the pod on a node must keep
  ``count(domain) + selfMatch - globalMin <= maxSkew``, where ``globalMin`` is 0 while fewer
  than ``minDomains`` domains exist; a node without the key is unresolvable.
- Score (``ScheduleAnyway``): fewer matching pods in the node's domains is better, each
  constraint weighted by ``log(domains + 2)``, normalised to 0-100 over the nodes that have
  the keys (others score 0).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from typing import Any

from kboot.controlplane.client.meta import is_deleting, selector_matches
from kboot.controlplane.scheduler.framework import (
    OK,
    SKIP,
    CycleState,
    Status,
    unresolvable,
    unschedulable,
)
from kboot.controlplane.scheduler.plugins.filters import NodeAffinity, domain_of
from kboot.controlplane.scheduler.snapshot import NodeInfo, PodInfo, Snapshot

Obj = dict[str, Any]
MISSING = unresolvable("node(s) didn't match pod topology spread constraints (missing "
                        "required label)")
SKEW = unschedulable("node(s) didn't match pod topology spread constraints")
_AFFINITY = NodeAffinity()


@dataclass(frozen=True)
class Constraint:
    max_skew: int
    key: str
    selector: Obj
    min_domains: int
    honor_affinity: bool

    @classmethod
    def of(cls, raw: Obj, pod: Obj) -> Constraint:
        selector: Obj = dict(raw.get("labelSelector") or {})
        labels = (pod.get("metadata") or {}).get("labels") or {}
        extra = [{"key": k, "operator": "In", "values": [labels[k]]}
                 for k in raw.get("matchLabelKeys") or [] if k in labels]
        if extra:
            selector["matchExpressions"] = [*(selector.get("matchExpressions") or []), *extra]
        return cls(max_skew=int(raw.get("maxSkew") or 1), key=str(raw.get("topologyKey", "")),
                   selector=selector, min_domains=int(raw.get("minDomains") or 1),
                   honor_affinity=raw.get("nodeAffinityPolicy", "Honor") == "Honor")


@dataclass
class Counts:
    """Matching pods per domain of one constraint, for this attempt."""

    constraint: Constraint
    per_domain: dict[str, int]
    self_match: int

    @functools.cached_property
    def global_min(self) -> int:  # once per attempt, not once per node filtered
        if len(self.per_domain) < self.constraint.min_domains:
            return 0
        return min(self.per_domain.values(), default=0)


def constraints(pod: PodInfo, mode: str) -> list[Constraint]:
    spec = pod.pod.get("spec") or {}
    return [Constraint.of(c, pod.pod) for c in spec.get("topologySpreadConstraints") or []
            if c.get("whenUnsatisfiable", "DoNotSchedule") == mode]


def _matching(node: NodeInfo, ns: str | None, selector: Obj) -> int:
    return sum(1 for other in node.pods.values()
               if (other.get("metadata") or {}).get("namespace") == ns
               and not is_deleting(other)
               and selector_matches(selector, (other.get("metadata") or {}).get("labels") or {}))


class _Tally:
    """One constraint's per-domain counts over all nodes for pods without node affinity
    (every node carrying the keys is eligible), kept in the snapshot's ``derived`` and brought
    up to date from its ``changes``: a pod costs the nodes changed since the last pod, not a
    recount of every pod on every node."""

    def __init__(self, ns: str | None, selector: Obj, key: str, keys: tuple[str, ...]) -> None:
        self.ns, self.selector, self.key, self.keys = ns, selector, key, keys
        self.per_domain: dict[str, int] = {}
        self.nodes_in: dict[str, int] = {}  # eligible nodes per domain
        self.contrib: dict[str, tuple[str, int]] = {}
        self.seen = 0

    def _add(self, node: NodeInfo) -> None:
        if any(domain_of(node, k) is None for k in self.keys):
            return
        domain = str(domain_of(node, self.key))
        n = _matching(node, self.ns, self.selector)
        self.contrib[node.name] = (domain, n)
        self.per_domain[domain] = self.per_domain.get(domain, 0) + n
        self.nodes_in[domain] = self.nodes_in.get(domain, 0) + 1

    def _remove(self, name: str) -> None:
        entry = self.contrib.pop(name, None)
        if entry is None:
            return
        domain, n = entry
        self.nodes_in[domain] -= 1
        if self.nodes_in[domain]:
            self.per_domain[domain] -= n
        else:
            del self.nodes_in[domain], self.per_domain[domain]

    def catch_up(self, snapshot: Snapshot) -> dict[str, int]:
        changes = snapshot.changes
        if self.seen == 0 and not self.contrib:
            for node in snapshot.nodes.values():
                self._add(node)
        else:
            for name in set(changes[self.seen:]):
                self._remove(name)
                changed = snapshot.nodes.get(name)
                if changed is not None:
                    self._add(changed)
        self.seen = len(changes)
        return self.per_domain


MAX_TALLIES = 256


def _tallied(snapshot: Snapshot, ns: str | None, c: Constraint,
             keys: tuple[str, ...]) -> dict[str, int]:
    cache_key = ("spread", ns, json.dumps(c.selector, sort_keys=True), c.key, keys)
    tally = snapshot.derived.get(cache_key)
    if tally is None:
        if len(snapshot.derived) >= MAX_TALLIES:
            snapshot.derived.clear()
        tally = snapshot.derived[cache_key] = _Tally(ns, c.selector, c.key, keys)
    return dict(tally.catch_up(snapshot))


def count(state: CycleState, pod: PodInfo, wanted: list[Constraint]) -> list[Counts]:
    """Count matching pods per domain over the eligible nodes of the snapshot."""
    ns = pod.pod["metadata"].get("namespace")
    labels = (pod.pod.get("metadata") or {}).get("labels") or {}
    keys = [c.key for c in wanted]
    if not pod.node_selector and not pod.affinity.get("nodeAffinity"):
        # every node with the keys is eligible: the snapshot's running tallies hold the counts
        return [Counts(c, _tallied(state.snapshot, ns, c, tuple(keys)),
                       int(selector_matches(c.selector, labels))) for c in wanted]
    out = [Counts(c, {}, int(selector_matches(c.selector, labels))) for c in wanted]
    for node in state.snapshot.nodes.values():
        if any(domain_of(node, k) is None for k in keys):
            continue
        affinity_ok = _AFFINITY.filter(state, pod, node) is OK
        for counts in out:
            if counts.constraint.honor_affinity and not affinity_ok:
                continue
            domain = str(domain_of(node, counts.constraint.key))
            n = _matching(node, ns, counts.constraint.selector)
            counts.per_domain[domain] = counts.per_domain.get(domain, 0) + n
    return out


class PodTopologySpread:
    """The hard constraints (``DoNotSchedule``)."""

    name = "PodTopologySpread"

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        hard = constraints(pod, "DoNotSchedule")
        if not hard:
            return SKIP
        state.data[self.name] = count(state, pod, hard)
        return OK

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        for counts in state.data.get(self.name) or []:
            domain = domain_of(node, counts.constraint.key)
            if domain is None:
                return MISSING
            skew = counts.per_domain.get(domain, 0) + counts.self_match - counts.global_min
            if skew > counts.constraint.max_skew:
                return SKEW
        return OK


class PodTopologySpreadScore:
    """The soft constraints (``ScheduleAnyway``): prefer the emptier domains."""

    name = "PodTopologySpreadScore"
    weight = 2

    def relevant(self, pod: PodInfo) -> bool:
        return bool(constraints(pod, "ScheduleAnyway"))

    def _raw(self, state: CycleState, pod: PodInfo) -> tuple[dict[str, float], float, float]:
        cached: tuple[dict[str, float], float, float] | None = state.data.get(self.name)
        if cached is None:
            raw: dict[str, float] = {}
            all_counts = count(state, pod, constraints(pod, "ScheduleAnyway"))
            for node in state.snapshot.nodes.values():
                total = 0.0
                for counts in all_counts:
                    domain = domain_of(node, counts.constraint.key)
                    if domain is None:
                        break
                    weight = math.log(len(counts.per_domain) + 2)
                    total += weight * (counts.per_domain.get(domain, 0)
                                       + counts.constraint.max_skew - 1)
                else:
                    raw[node.name] = total
            cached = (raw, min(raw.values(), default=0.0), max(raw.values(), default=0.0))
            state.data[self.name] = cached
        return cached

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> float:
        raw, low, high = self._raw(state, pod)
        if node.name not in raw:
            return 0.0
        if high == low:
            return 100.0
        return 100.0 * (high - raw[node.name]) / (high - low)
