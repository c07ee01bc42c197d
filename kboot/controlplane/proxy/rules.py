"""Services as iptables NAT rules: a PURE function from Services + Endpoints (+ EndpointSlices)
to ``iptables-restore`` input covering only kboot's own chains.

Endpoint choice (as upstream's ``CategorizeEndpoints``, cluster traffic policy): a Service port
routes to its ready endpoints (the Endpoints' ``addresses``, the same set as the slices'
``ready: true``); only when it has none does it route to the endpoints its EndpointSlices mark
``serving`` and ``terminating`` (a pod still answering during its preStop hook or drain), so
connections during a rolling update or drain still land on a serving pod.

Chains (as kube-proxy's, renamed): ``KBOOT-SERVICES`` (entry from PREROUTING and OUTPUT) matches
cluster IPs and external IPs and, last, hands local destinations to ``KBOOT-NODEPORTS``;
``KBOOT-SVC-<hash>`` picks an endpoint with ``statistic --mode random --probability 1/(n-i)``
(and, with ``sessionAffinity: ClientIP``, first re-uses a recent choice via ``recent``);
``KBOOT-SEP-<hash>`` DNATs to one endpoint. Traffic that needs SNAT (NodePort, external IPs,
off-cluster sources, a pod reaching itself through its Service) is marked by
``KBOOT-MARK-MASQ`` and masqueraded in ``KBOOT-POSTROUTING``. Chains that existed before but are
no longer wanted are flushed and deleted in the same atomic restore. In the filter table,
``KBOOT-FILTER`` rejects new connections to Service ports that have no ready endpoint, so
clients fail fast ("connection refused") instead of timing out.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kboot.controlplane.api.shapes import Obj

MASQ_MARK = "0x4000/0x4000"
STATIC_CHAINS = ("KBOOT-SERVICES", "KBOOT-NODEPORTS", "KBOOT-POSTROUTING", "KBOOT-MARK-MASQ")
AFFINITY_SECONDS = 10800
SERVICE_NAME = "kubernetes.io/service-name"  # an EndpointSlice's Service


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service, with the endpoints it routes to (see the module docstring)."""

    namespace: str
    name: str
    port_name: str
    protocol: str
    port: int
    cluster_ip: str
    node_port: int
    external_ips: tuple[str, ...]
    endpoints: tuple[Endpoint, ...]
    affinity_seconds: int = 0

    @property
    def key(self) -> str:
        base = f"{self.namespace}/{self.name}"
        return f"{base}:{self.port_name}" if self.port_name else base


def chain_hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest())[:16].decode()


def svc_chain(sp: ServicePort) -> str:
    return f"KBOOT-SVC-{chain_hash(sp.key + '/' + sp.protocol)}"


def sep_chain(sp: ServicePort, ep: Endpoint) -> str:
    return f"KBOOT-SEP-{chain_hash(f'{sp.key}/{sp.protocol}/{ep.ip}:{ep.port}')}"


def _endpoints(endpoints: Obj | None, port: Obj) -> tuple[Endpoint, ...]:
    """Ready addresses of the Endpoints subset port matching the service port (by name)."""
    out: list[Endpoint] = []
    for subset in (endpoints or {}).get("subsets") or []:
        for ep_port in subset.get("ports") or []:
            if (ep_port.get("name") or "") != (port.get("name") or "") or \
                    ep_port.get("protocol", "TCP") != port.get("protocol", "TCP"):
                continue
            out += [Endpoint(a["ip"], int(ep_port["port"])) for a in subset.get("addresses") or []]
    return tuple(sorted(set(out), key=lambda e: (e.ip, e.port)))


def _condition(ep: Obj, name: str, default: bool) -> bool:
    value = (ep.get("conditions") or {}).get(name)
    return default if value is None else bool(value)


def _serving_terminating(slices: Sequence[Obj], port: Obj) -> tuple[Endpoint, ...]:
    """Endpoints of the slices that are serving and terminating, on the slice port matching
    the service port (by name and protocol). ``serving`` unset means ``ready`` (API docs)."""
    out: list[Endpoint] = []
    for sl in slices:
        ports = [int(p["port"]) for p in sl.get("ports") or [] if p.get("port") is not None
                 and (p.get("name") or "") == (port.get("name") or "")
                 and p.get("protocol", "TCP") == port.get("protocol", "TCP")]
        for ep in sl.get("endpoints") or []:
            if _condition(ep, "terminating", False) and \
                    _condition(ep, "serving", _condition(ep, "ready", True)):
                out += [Endpoint(ip, p) for ip in ep.get("addresses") or [] for p in ports]
    return tuple(sorted(set(out), key=lambda e: (e.ip, e.port)))


def service_ports(services: Iterable[Obj], endpoints: Iterable[Obj],
                  slices: Iterable[Obj] = ()) -> list[ServicePort]:
    """Flatten Services (with a cluster IP) and their Endpoints into sorted ServicePorts; a port
    with no ready endpoint falls back to its slices' serving, terminating ones."""
    by_key = {(e["metadata"].get("namespace"), e["metadata"]["name"]): e for e in endpoints}
    slices_of: dict[tuple[str | None, str], list[Obj]] = {}
    for sl in slices:
        owner = (sl["metadata"].get("labels") or {}).get(SERVICE_NAME)
        if owner:
            slices_of.setdefault((sl["metadata"].get("namespace"), owner), []).append(sl)
    out: list[ServicePort] = []
    for svc in services:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        cluster_ip = spec.get("clusterIP") or ""
        if spec.get("type") == "ExternalName" or cluster_ip in ("", "None"):
            continue
        affinity = 0
        if spec.get("sessionAffinity") == "ClientIP":
            cfg = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
            affinity = int(cfg.get("timeoutSeconds", AFFINITY_SECONDS))
        eps = by_key.get((meta.get("namespace"), meta["name"]))
        own_slices = slices_of.get((meta.get("namespace"), meta["name"]), [])
        for port in spec.get("ports") or []:
            out.append(ServicePort(
                namespace=meta.get("namespace", "default"), name=meta["name"],
                port_name=port.get("name") or "", protocol=port.get("protocol", "TCP"),
                port=int(port["port"]), cluster_ip=cluster_ip,
                node_port=int(port.get("nodePort") or 0)
                if spec.get("type") in ("NodePort", "LoadBalancer") else 0,
                external_ips=tuple(spec.get("externalIPs") or ()),
                endpoints=_endpoints(eps, port) or _serving_terminating(own_slices, port),
                affinity_seconds=affinity))
    return sorted(out, key=lambda sp: (sp.key, sp.protocol))


def _match(proto: str, dest: str, port: int) -> str:
    p = proto.lower()
    return f"-d {dest}/32 -p {p} -m {p} --dport {port}"


def _svc_rules(sp: ServicePort, cluster_cidr: str) -> list[str]:
    chain, proto = svc_chain(sp), sp.protocol.lower()
    comment = f'-m comment --comment "{sp.key}'
    rules = [f'-A KBOOT-SERVICES {_match(sp.protocol, sp.cluster_ip, sp.port)} {comment} '
             f'cluster IP" -j {chain}']
    if cluster_cidr:
        rules.append(f"-A {chain} ! -s {cluster_cidr} {_match(sp.protocol, sp.cluster_ip, sp.port)}"
                     " -j KBOOT-MARK-MASQ")
    for ext in sp.external_ips:
        rules.append(f'-A KBOOT-SERVICES {_match(sp.protocol, ext, sp.port)} {comment} '
                     f'external IP" -j KBOOT-MARK-MASQ')
        rules.append(f'-A KBOOT-SERVICES {_match(sp.protocol, ext, sp.port)} {comment} '
                     f'external IP" -j {chain}')
    if sp.node_port:
        for target in ("KBOOT-MARK-MASQ", chain):
            rules.append(f'-A KBOOT-NODEPORTS -p {proto} -m {proto} --dport {sp.node_port} '
                         f'{comment}" -j {target}')
    n = len(sp.endpoints)
    if sp.affinity_seconds:
        for ep in sp.endpoints:
            rules.append(f"-A {chain} -m recent --name {sep_chain(sp, ep)} --mask "
                         f"255.255.255.255 --rsource --rcheck --seconds {sp.affinity_seconds} "
                         f"--reap -j {sep_chain(sp, ep)}")
    for i, ep in enumerate(sp.endpoints):
        prob = "" if i == n - 1 else \
            f"-m statistic --mode random --probability {1 / (n - i):.10f} "
        rules.append(f"-A {chain} {prob}-j {sep_chain(sp, ep)}")
    return rules


def _sep_rules(sp: ServicePort, ep: Endpoint) -> list[str]:
    chain, proto = sep_chain(sp, ep), sp.protocol.lower()
    recent = (f"-m recent --name {chain} --mask 255.255.255.255 --rsource --set "
              if sp.affinity_seconds else "")
    return [f"-A {chain} -s {ep.ip}/32 -j KBOOT-MARK-MASQ",
            f"-A {chain} -p {proto} {recent}-m {proto} -j DNAT --to-destination {ep.ip}:{ep.port}"]


def render(ports: Sequence[ServicePort], *, cluster_cidr: str = "",
           existing_chains: Iterable[str] = (), filter_rules: Sequence[str] = ()) -> str:
    """The ``iptables-restore --noflush`` input for the nat table, and the filter table's
    ``KBOOT-FILTER`` plus *filter_rules* (the NetworkPolicy chains), applied in one go."""
    wanted: list[str] = list(STATIC_CHAINS)
    rules = [f"-A KBOOT-MARK-MASQ -j MARK --set-xmark {MASQ_MARK}",
             f"-A KBOOT-POSTROUTING -m mark ! --mark {MASQ_MARK} -j RETURN",
             "-A KBOOT-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
             "-A KBOOT-POSTROUTING -m comment --comment \"kboot service traffic requiring SNAT\" "
             "-j MASQUERADE"]
    for sp in ports:
        if not sp.endpoints:
            continue  # no endpoint: leave the cluster IP unanswered rather than mis-route it
        wanted.append(svc_chain(sp))
        rules += _svc_rules(sp, cluster_cidr)
        for ep in sp.endpoints:
            wanted.append(sep_chain(sp, ep))
            rules += _sep_rules(sp, ep)
    rules.append("-A KBOOT-SERVICES -m addrtype --dst-type LOCAL -j KBOOT-NODEPORTS")
    stale = sorted(c for c in set(existing_chains) - set(wanted) if c.startswith("KBOOT-"))
    lines = ["*nat", *(f":{c} - [0:0]" for c in [*wanted, *stale]), *rules]
    lines += [f"-X {c}" for c in stale]
    return "\n".join([*lines, "COMMIT", *_filter(ports), *filter_rules, "COMMIT", ""])


def _filter(ports: Sequence[ServicePort]) -> list[str]:
    lines = ["*filter", ":KBOOT-FILTER - [0:0]"]
    for sp in ports:
        if sp.endpoints:
            continue
        reject = (f'-m comment --comment "{sp.key} has no endpoints" '
                  "-j REJECT --reject-with icmp-port-unreachable")
        for dest in (sp.cluster_ip, *sp.external_ips):
            lines.append(f"-A KBOOT-FILTER {_match(sp.protocol, dest, sp.port)} {reject}")
    return lines
