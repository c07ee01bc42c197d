"""Filter plugins: can this pod run on this node? Reasons match kube-scheduler's wording."""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api.shapes import Taint
from kboot.controlplane.api.tolerations import first_untolerated, tolerated
from kboot.controlplane.client.meta import selector_matches
from kboot.controlplane.scheduler.framework import (
    OK,
    SKIP,
    CycleState,
    Status,
    unresolvable,
    unschedulable,
)
from kboot.controlplane.scheduler.snapshot import NodeInfo, PodInfo

_UNSCHEDULABLE: Taint = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


class NodeUnschedulable:
    name = "NodeUnschedulable"
    passes_plain_nodes = True

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if node.unschedulable and not tolerated(_UNSCHEDULABLE, pod.tolerations):
            return unresolvable("node(s) were unschedulable")
        return OK


_NOT_READY = unschedulable("node(s) were not ready")


class NodeReady:
    name = "NodeReady"
    passes_plain_nodes = True

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        return OK if node.ready else _NOT_READY


class NodeName:
    name = "NodeName"

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        return OK if pod.node_name else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if pod.node_name and pod.node_name != node.name:
            return unresolvable("node(s) didn't match the requested node name")
        return OK


TOO_MANY = unschedulable("Too many pods")
NO_CPU = unschedulable("Insufficient cpu")
NO_MEMORY = unschedulable("Insufficient memory")


class NodeResourcesFit:
    name = "NodeResourcesFit"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        want = pod.requests
        if node.free_pods < 1:
            return TOO_MANY
        if want.cpu and want.cpu > node.free_cpu + 1e-9:
            return NO_CPU
        if want.memory and want.memory > node.free_memory:
            return NO_MEMORY
        return OK


def node_selector_term_matches(term: dict[str, Any], labels: dict[str, str],
                               fields: dict[str, str]) -> bool:
    exprs = term.get("matchExpressions") or []
    fexprs = term.get("matchFields") or []
    if not exprs and not fexprs:
        return False
    return all(_node_expr(e, labels) for e in exprs) and all(_node_expr(e, fields)
                                                             for e in fexprs)


def _node_expr(expr: dict[str, Any], labels: dict[str, str]) -> bool:
    op, key, values = expr.get("operator"), expr.get("key", ""), expr.get("values") or []
    if op in ("Gt", "Lt"):
        try:
            have, want = int(labels[key]), int(values[0])
        except (KeyError, ValueError, IndexError):
            return False
        return have > want if op == "Gt" else have < want
    return selector_matches({"matchExpressions": [expr]}, labels)


class NodeAffinity:
    """``spec.nodeSelector`` and required node affinity."""

    name = "NodeAffinity"

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        return OK if pod.node_selector or pod.affinity.get("nodeAffinity") else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        for k, v in pod.node_selector.items():
            if node.labels.get(k) != v:
                return unresolvable("node(s) didn't match Pod's node affinity/selector")
        required = ((pod.affinity.get("nodeAffinity") or {})
                    .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
        terms = required.get("nodeSelectorTerms") or []
        fields = {"metadata.name": node.name}
        if terms and not any(node_selector_term_matches(t, node.labels, fields) for t in terms):
            return unresolvable("node(s) didn't match Pod's node affinity/selector")
        return OK


class TaintToleration:
    name = "TaintToleration"
    passes_plain_nodes = True

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        taint = first_untolerated(node.taints, pod.tolerations)
        if taint is None:
            return OK
        return unresolvable(f"node(s) had untolerated taint "
                            f"{{{taint.get('key')}: {taint.get('value', '')}}}")


class NodePorts:
    name = "NodePorts"

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        return OK if pod.ports else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        for proto, ip, port in pod.ports:
            for (used_proto, used_ip, used_port), n in node.ports.items():
                if n > 0 and (used_proto, used_port) == (proto, port) and \
                        (ip == used_ip or "0.0.0.0" in (ip, used_ip)):
                    return unschedulable("node(s) didn't have free ports for the requested "
                                         "pod ports")
        return OK


HOSTNAME = "kubernetes.io/hostname"


def domain_of(node: NodeInfo, key: str) -> str | None:
    """The node's value of topology key ``key`` (its name for the hostname key)."""
    return node.labels.get(key, node.name if key == HOSTNAME else None)


def term_matches(term: dict[str, Any], pod_ns: str | None, other: dict[str, Any]) -> bool:
    """Whether ``other`` is a pod a pod-(anti-)affinity term of a pod in ``pod_ns`` selects."""
    namespaces = set(term.get("namespaces") or [pod_ns])
    md = other.get("metadata") or {}
    return md.get("namespace") in namespaces and selector_matches(
        term.get("labelSelector"), md.get("labels") or {})


def matching_domains(state: CycleState, pod: PodInfo, term: dict[str, Any]
                     ) -> tuple[str, set[str]]:
    """The term's topology key and the domains holding at least one pod the term selects."""
    key = term.get("topologyKey", HOSTNAME)
    ns = pod.pod["metadata"].get("namespace")
    domains: set[str] = set()
    for info in state.snapshot.nodes.values():
        domain = domain_of(info, key)
        if domain is None or domain in domains:
            continue
        if any(term_matches(term, ns, other) for other in info.pods.values()):
            domains.add(domain)
    return key, domains


class InterPodAntiAffinity:
    """Required pod anti-affinity of the incoming pod: no matching pod in the same topology
    domain. Domains holding a matching pod are computed once per attempt in ``pre_filter``."""

    name = "InterPodAntiAffinity"

    def _terms(self, pod: PodInfo) -> list[dict[str, Any]]:
        anti = pod.affinity.get("podAntiAffinity") or {}
        return list(anti.get("requiredDuringSchedulingIgnoredDuringExecution") or [])

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        if not self._terms(pod):
            return SKIP
        state.data[self.name] = [matching_domains(state, pod, t) for t in self._terms(pod)]
        return OK

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        for key, domains in state.data.get(self.name) or []:
            if domain_of(node, key) in domains:
                return unschedulable("node(s) didn't match pod anti-affinity rules")
        return OK


class InterPodAffinity:
    """Required pod affinity: every term needs a matching pod in the node's topology domain.
    As upstream, a term no existing pod satisfies but the incoming pod itself does (the first
    pod of a group) does not block."""

    name = "InterPodAffinity"

    def _terms(self, pod: PodInfo) -> list[dict[str, Any]]:
        affinity = pod.affinity.get("podAffinity") or {}
        return list(affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or [])

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        if not self._terms(pod):
            return SKIP
        ns = pod.pod["metadata"].get("namespace")
        needed = []
        for term in self._terms(pod):
            key, domains = matching_domains(state, pod, term)
            if not domains and term_matches(term, ns, pod.pod):
                continue  # the first pod of its group
            needed.append((key, domains))
        state.data[self.name] = needed
        return OK

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        for key, domains in state.data.get(self.name) or []:
            if domain_of(node, key) not in domains:
                return unschedulable("node(s) didn't match pod affinity rules")
        return OK
