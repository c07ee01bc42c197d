"""NetworkPolicy semantics, pure: which of this node's pods are isolated, and what each may
send and receive (upstream's ``networking/v1`` rules, as its conformance tests pin them).

- A pod is isolated for ingress (egress) only when some policy of its namespace selects it and
  lists that ``policyType``; what it may then receive (send) is the union of the rules of all
  such policies. Nothing selects it → everything is allowed (no entry here at all).
- A peer is ``podSelector`` (pods of the policy's namespace), ``namespaceSelector`` (every pod of
  the matching namespaces), both (matching pods *in* matching namespaces) or ``ipBlock``
  (``cidr`` minus ``except``). No peers in a rule: any address. No ports: any port.
- A named port is resolved per destination pod (its containers' ``ports[].name`` with the same
  protocol); a pod without it is not reached by that entry.
- Peers are pods with an IP and not on the host network, plus kboot's node-level DNS: the
  addresses of ``kube-system`` Services labelled ``k8s-app=kube-dns`` count as pods of
  ``kube-system`` with the Service's labels and named ports, so the usual "allow DNS to
  kube-dns" rule works although kboot-dns runs on the nodes, not in pods.

The result, :class:`Isolation`, is what :mod:`kboot.controlplane.proxy.netpolrules` renders.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from kboot.controlplane.api.networkpolicy import parse_cidr
from kboot.controlplane.api.selectors import (
    LabelSelector,
    SelectorError,
    label_selector_from_dict,
)
from kboot.controlplane.api.shapes import Obj

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
DNS_LABEL = ("k8s-app", "kube-dns")
ANY = ("0.0.0.0/0",)


@dataclass(frozen=True)
class NamedPort:
    name: str
    protocol: str
    port: int


@dataclass(frozen=True)
class PodInfo:
    """What policies read of a pod (or of a kube-dns address standing in for one)."""

    namespace: str
    name: str
    ip: str
    labels: tuple[tuple[str, str], ...] = ()
    ports: tuple[NamedPort, ...] = ()
    node: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def named_port(self, name: str, protocol: str) -> int | None:
        for port in self.ports:
            if port.name == name and port.protocol == protocol:
                return port.port
        return None


@dataclass(frozen=True)
class Allow:
    """One allowed combination: remote addresses (CIDRs), protocol (``""``: any) and a
    destination port range (``0``: any)."""

    cidrs: tuple[str, ...]
    protocol: str = ""
    port: int = 0
    end_port: int = 0


@dataclass(frozen=True)
class Isolation:
    """A local pod isolated in one direction and everything it is allowed there."""

    pod: PodInfo
    direction: str  # "ingress" | "egress"
    allows: tuple[Allow, ...]
    policies: tuple[str, ...]


def _labels(obj: Obj) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(((obj.get("metadata") or {}).get("labels") or {}).items()))


def pod_info(pod: Obj) -> PodInfo | None:
    """A pod as a policy peer, or None when policies do not apply to it (no IP yet, host
    network, finished)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    ip = status.get("podIP") or ""
    if not ip or spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed"):
        return None
    ports = tuple(NamedPort(p["name"], p.get("protocol") or "TCP", int(p["containerPort"]))
                  for c in spec.get("containers") or [] for p in c.get("ports") or []
                  if p.get("name") and p.get("containerPort"))
    meta = pod["metadata"]
    return PodInfo(meta.get("namespace") or "default", meta["name"], ip, _labels(pod), ports,
                   spec.get("nodeName") or "")


def dns_infos(services: Iterable[Obj], endpoints: Iterable[Obj]) -> list[PodInfo]:
    """kube-dns addresses (nodes' kboot-dns) as ``kube-system`` peers with the Service's labels."""
    wanted = {svc["metadata"]["name"]: _labels(svc) for svc in services
              if svc["metadata"].get("namespace") == "kube-system"
              and dict(_labels(svc)).get(DNS_LABEL[0]) == DNS_LABEL[1]}
    out: list[PodInfo] = []
    for ep in endpoints:
        meta = ep["metadata"]
        if meta.get("namespace") != "kube-system" or meta["name"] not in wanted:
            continue
        for subset in ep.get("subsets") or []:
            ports = tuple(NamedPort(p["name"], p.get("protocol") or "TCP", int(p["port"]))
                          for p in subset.get("ports") or [] if p.get("name"))
            for addr in subset.get("addresses") or []:
                if (addr.get("targetRef") or {}).get("kind") == "Pod":
                    continue  # a real pod: already a peer as itself
                out.append(PodInfo("kube-system", f"{meta['name']}@{addr['ip']}", addr["ip"],
                                   wanted[meta["name"]], ports))
    return out


def namespace_labels(namespaces: Iterable[Obj]) -> dict[str, dict[str, str]]:
    """Namespace → labels, with ``kubernetes.io/metadata.name`` as upstream always sets it."""
    return {ns["metadata"]["name"]: {**dict(_labels(ns)),
                                     NAMESPACE_NAME_LABEL: ns["metadata"]["name"]}
            for ns in namespaces}


def _selector(value: object) -> LabelSelector:
    """A stored policy's selector; one that does not parse (validation refuses those) selects
    nothing rather than everything."""
    try:
        return label_selector_from_dict(value if isinstance(value, Mapping) else {})
    except SelectorError:
        return LabelSelector(nothing=True)


def _ip_block(block: Obj) -> tuple[str, ...]:
    """``cidr`` minus every ``except`` as disjoint CIDRs (iptables matches one CIDR per rule)."""
    try:
        nets = [parse_cidr(str(block.get("cidr")))]
        for text in block.get("except") or []:
            hole = parse_cidr(str(text))
            nets = [rest for net in nets for rest in _exclude(net, hole)]
    except ValueError:
        return ()
    return tuple(str(n) for n in nets if n.version == 4)  # kboot's pod network is IPv4


def _exclude(net: ipaddress.IPv4Network | ipaddress.IPv6Network,
             hole: ipaddress.IPv4Network | ipaddress.IPv6Network,
             ) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    if net.version != hole.version or not net.overlaps(hole):
        return [net]
    if hole.network_address in net and hole.prefixlen >= net.prefixlen:
        return sorted(net.address_exclude(hole))  # type: ignore[arg-type]
    return []  # the hole covers the whole net


@dataclass(frozen=True)
class World:
    """Everything policies are evaluated against."""

    pods: tuple[PodInfo, ...]
    namespaces: Mapping[str, Mapping[str, str]]


def _peer_pods(peer: Obj, policy_ns: str, world: World) -> list[PodInfo]:
    pod_sel = peer.get("podSelector")
    ns_sel = peer.get("namespaceSelector")
    pods = _selector(pod_sel) if pod_sel is not None else LabelSelector()
    if ns_sel is None:
        return [p for p in world.pods if p.namespace == policy_ns and pods.matches(p.label_map())]
    spaces = _selector(ns_sel)
    return [p for p in world.pods
            if p.namespace in world.namespaces
            and spaces.matches(world.namespaces[p.namespace]) and pods.matches(p.label_map())]


def _in_cidrs(ip: str, cidrs: Sequence[str]) -> bool:
    address = ipaddress.ip_address(ip)
    return any(address in ipaddress.ip_network(c) for c in cidrs)


def _peers(rule: Obj, field: str, policy_ns: str, world: World) -> Peers:
    """The rule's remote side: (CIDRs, the pod they stand for or None for a plain block)."""
    peers = rule.get(field) or []
    if not peers:
        return [(ANY, None)]
    out: Peers = []
    for peer in peers:
        if peer.get("ipBlock") is not None:
            out.append((_ip_block(peer["ipBlock"]), None))
        else:
            out += [((f"{p.ip}/32",), p) for p in _peer_pods(peer, policy_ns, world)]
    return out


def _port(port: Obj, target: PodInfo | None) -> tuple[str, int, int] | None:
    """(protocol, port, end port) of one ``ports`` entry for *target*; None if a named port
    does not resolve on it."""
    protocol = str(port.get("protocol") or "TCP")
    value = port.get("port")
    if value is None:
        return protocol, 0, 0
    if isinstance(value, str) and not value.isdigit():
        resolved = target.named_port(value, protocol) if target else None
        return (protocol, resolved, 0) if resolved else None
    return protocol, int(value), int(port.get("endPort") or 0)


def _named(port: Obj) -> bool:
    value = port.get("port")
    return isinstance(value, str) and not value.isdigit()


Peers = list[tuple[tuple[str, ...], PodInfo | None]]


def _rule_allows(rule: Obj, direction: str, peers: Peers, local: PodInfo,
                 world: World) -> list[Allow]:
    ports: list[Obj] = [p for p in rule.get("ports") or [] if isinstance(p, dict)]
    out: list[Allow] = []
    for cidrs, pod in peers:
        if not cidrs:
            continue
        if not ports:
            out.append(Allow(cidrs))
            continue
        for port in ports:
            if direction == "ingress" or pod is not None or not _named(port):
                resolved = _port(port, local if direction == "ingress" else pod)
                out += [Allow(cidrs, *resolved)] if resolved else []
                continue
            # an egress named port towards a plain block: it means the known pods inside it
            for target in world.pods:
                if _in_cidrs(target.ip, cidrs) and (resolved := _port(port, target)):
                    out.append(Allow((f"{target.ip}/32",), *resolved))
    return out


def isolations(policies: Iterable[Obj], world: World, local: Iterable[PodInfo]) -> list[Isolation]:
    """For every *local* pod and direction in which some policy isolates it, the union of what
    the selecting policies allow (sorted, duplicates removed: the same input renders the same
    rules)."""
    by_ns: dict[str, list[Obj]] = {}
    for policy in sorted(policies, key=lambda p: p["metadata"]["name"]):
        by_ns.setdefault(policy["metadata"].get("namespace") or "default", []).append(policy)
    out: list[Isolation] = []
    peers: dict[int, Peers] = {}  # a rule's peers do not depend on the local pod: once each
    # what a pod may do depends on it only through the policies selecting it and (ingress
    # named ports) its own ports: pods alike in those share one computation
    done: dict[tuple[object, ...], tuple[Allow, ...]] = {}
    for pod in sorted(local, key=lambda p: p.key):
        for direction, types_name in (("ingress", "Ingress"), ("egress", "Egress")):
            selecting = [p for p in by_ns.get(pod.namespace, [])
                         if types_name in _policy_types(p.get("spec") or {})
                         and _selector((p.get("spec") or {}).get("podSelector")).matches(
                             pod.label_map())]
            if not selecting:
                continue
            names = tuple(p["metadata"]["name"] for p in selecting)
            key = (pod.namespace, direction, names, pod.ports if direction == "ingress" else ())
            if key not in done:
                allows: list[Allow] = []
                for policy in selecting:
                    for rule in (policy.get("spec") or {}).get(direction) or []:
                        rule = rule or {}
                        if id(rule) not in peers:
                            field = "from" if direction == "ingress" else "to"
                            peers[id(rule)] = _peers(rule, field, pod.namespace, world)
                        allows += _rule_allows(rule, direction, peers[id(rule)], pod, world)
                done[key] = _merge(allows)
            out.append(Isolation(pod, direction, done[key], names))
    return out


def _merge(allows: Iterable[Allow]) -> tuple[Allow, ...]:
    """One entry per (protocol, port range) with its addresses collapsed into the fewest
    CIDRs (pods of one node are often adjacent): fewer rules, the same set of packets."""
    by_port: dict[tuple[str, int, int], set[str]] = {}
    for allow in allows:
        by_port.setdefault((allow.protocol, allow.port, allow.end_port), set()).update(
            allow.cidrs)
    return tuple(Allow(collapse(cidrs), *key) for key, cidrs in sorted(by_port.items()))


@lru_cache(maxsize=65536)
def _interval(cidr: str) -> tuple[int, int]:
    address, _, bits = cidr.partition("/")
    start = int.from_bytes(socket.inet_aton(address), "big")
    size = 1 << (32 - int(bits or 32))
    start &= ~(size - 1)
    return start, start + size


def collapse(cidrs: Iterable[str]) -> tuple[str, ...]:
    """The union of IPv4 CIDRs as the fewest CIDRs, in address order (integer arithmetic:
    ``ipaddress.collapse_addresses`` costs seconds on a thousand-pod cluster)."""
    merged: list[list[int]] = []
    for start, end in sorted(_interval(c) for c in cidrs):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[str] = []
    for start, end in merged:
        while start < end:
            size = start & -start if start else 1 << 32
            while size > end - start:
                size >>= 1
            out.append(f"{socket.inet_ntoa(start.to_bytes(4, 'big'))}/{33 - size.bit_length()}")
            start += size
    return tuple(out)


def _policy_types(spec: Obj) -> list[str]:
    """Stored policies carry ``policyTypes`` (defaulted at admission); older ones may not."""
    types = spec.get("policyTypes")
    if types:
        return [str(t) for t in types]
    return ["Ingress", *(["Egress"] if spec.get("egress") else [])]


def node_isolations(*, node: str, policies: Iterable[Obj], pods: Iterable[Obj],
                    namespaces: Iterable[Obj], services: Iterable[Obj] = (),
                    endpoints: Iterable[Obj] = ()) -> list[Isolation]:
    """:func:`isolations` from the API objects as informers hold them, for *node*'s pods."""
    infos = [info for info in map(pod_info, pods) if info is not None]
    world = World(tuple([*infos, *dns_infos(services, endpoints)]), namespace_labels(namespaces))
    return isolations(policies, world, [p for p in infos if p.node == node])
