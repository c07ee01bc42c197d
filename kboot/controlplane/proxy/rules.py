"""Services as iptables NAT rules: a PURE function from ServicePorts (see
:mod:`.serviceports` for which endpoints each traffic policy uses) to ``iptables-restore`` input
covering only kboot's own chains.

Chains (as kube-proxy's, renamed): ``KBOOT-SERVICES`` (entry from PREROUTING and OUTPUT) matches
cluster IPs and external IPs and, last, hands local destinations to ``KBOOT-NODEPORTS``;
``KBOOT-SVC-<hash>`` picks one of the cluster endpoints with ``statistic --mode random
--probability 1/(n-i)`` (and, with ``sessionAffinity: ClientIP``, first re-uses a recent choice via
``recent``); ``KBOOT-SVL-<hash>`` does the same among this node's endpoints (a ``Local`` traffic
policy); ``KBOOT-SEP-<hash>`` DNATs to one endpoint. The cluster IP jumps to SVC, or to SVL with
``internalTrafficPolicy: Local``. NodePorts and external IPs jump to SVC after marking the
packet for SNAT, or, with ``externalTrafficPolicy: Local``, to ``KBOOT-EXT-<hash>``: traffic from
this node's pods and from the node itself goes on to SVC (upstream's short-circuit), the rest to
SVL without SNAT, so the endpoint sees the client's address. Traffic that needs SNAT (Cluster
policy NodePorts and external IPs, off-cluster sources of a cluster IP, a pod reaching itself
through its Service) is marked by ``KBOOT-MARK-MASQ`` and masqueraded in ``KBOOT-POSTROUTING``.
Chains that existed before but are no longer wanted are flushed and deleted in the same atomic
restore. In the filter table, ``KBOOT-FILTER`` rejects new connections to a Service with no
usable endpoint at all, so clients fail fast ("connection refused") instead of timing out, and
drops those a Local policy leaves without a local endpoint (as upstream: the Service exists
elsewhere, this node just has no share of it).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence

from kboot.controlplane.proxy.serviceports import AFFINITY_SECONDS as AFFINITY_SECONDS
from kboot.controlplane.proxy.serviceports import SERVICE_NAME as SERVICE_NAME
from kboot.controlplane.proxy.serviceports import Endpoint as Endpoint
from kboot.controlplane.proxy.serviceports import ServicePort as ServicePort
from kboot.controlplane.proxy.serviceports import service_ports as service_ports

MASQ_MARK = "0x4000/0x4000"
STATIC_CHAINS = ("KBOOT-SERVICES", "KBOOT-NODEPORTS", "KBOOT-POSTROUTING", "KBOOT-MARK-MASQ")


def chain_hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest())[:16].decode()


def svc_chain(sp: ServicePort) -> str:
    return f"KBOOT-SVC-{chain_hash(sp.key + '/' + sp.protocol)}"


def svl_chain(sp: ServicePort) -> str:
    """The Local-policy chain: this node's endpoints only."""
    return f"KBOOT-SVL-{chain_hash(sp.key + '/' + sp.protocol)}"


def ext_chain(sp: ServicePort) -> str:
    """External destinations (NodePort, external IPs) under ``externalTrafficPolicy: Local``."""
    return f"KBOOT-EXT-{chain_hash(sp.key + '/' + sp.protocol)}"


def sep_chain(sp: ServicePort, ep: Endpoint) -> str:
    return f"KBOOT-SEP-{chain_hash(f'{sp.key}/{sp.protocol}/{ep.ip}:{ep.port}')}"


def _match(proto: str, dest: str, port: int) -> str:
    p = proto.lower()
    return f"-d {dest}/32 -p {p} -m {p} --dport {port}"


def _entry_rules(sp: ServicePort, cluster_cidr: str) -> list[str]:
    """The jumps from ``KBOOT-SERVICES``/``KBOOT-NODEPORTS`` into the port's chains."""
    internal = svl_chain(sp) if sp.internal_local else svc_chain(sp)
    proto, comment = sp.protocol.lower(), f'-m comment --comment "{sp.key}'
    rules: list[str] = []
    if sp.has_internal_endpoints:
        rules.append(f'-A KBOOT-SERVICES {_match(sp.protocol, sp.cluster_ip, sp.port)} '
                     f'{comment} cluster IP" -j {internal}')
        if cluster_cidr:  # off-cluster sources reaching the cluster IP (a route to a node)
            rules.append(f"-A {internal} ! -s {cluster_cidr} "
                         f"{_match(sp.protocol, sp.cluster_ip, sp.port)} -j KBOOT-MARK-MASQ")
    # Cluster policy: SNAT, then any endpoint; Local policy: the EXT chain decides
    targets = [ext_chain(sp)] if sp.external_local else ["KBOOT-MARK-MASQ", svc_chain(sp)]
    for ext in sp.external_ips:
        rules += [f'-A KBOOT-SERVICES {_match(sp.protocol, ext, sp.port)} {comment} '
                  f'external IP" -j {target}' for target in targets]
    if sp.node_port:
        rules += [f'-A KBOOT-NODEPORTS -p {proto} -m {proto} --dport {sp.node_port} '
                  f'{comment}" -j {target}' for target in targets]
    return rules


def _ext_rules(sp: ServicePort, cluster_cidr: str) -> list[str]:
    """``externalTrafficPolicy: Local``: traffic from this node's pods and from the node itself
    short-circuits to the cluster chain (as if it went out to a load balancer and came back;
    the node's own traffic is SNATed, its source being a local address); the rest goes to this
    node's endpoints unmasqueraded, keeping the client's address. No local endpoint: it falls
    through, is not DNATed, and ``KBOOT-FILTER`` drops it."""
    chain, cluster = ext_chain(sp), svc_chain(sp)
    what = f"{sp.key} external destinations"
    rules = [f'-A {chain} -s {cluster_cidr} -m comment --comment "pod traffic for {what}" '
             f'-j {cluster}'] if cluster_cidr else []
    rules += [f'-A {chain} -m comment --comment "masquerade LOCAL traffic for {what}" '
              "-m addrtype --src-type LOCAL -j KBOOT-MARK-MASQ",
              f'-A {chain} -m comment --comment "route LOCAL traffic for {what}" '
              f"-m addrtype --src-type LOCAL -j {cluster}"]
    if sp.local_endpoints:
        rules.append(f"-A {chain} -j {svl_chain(sp)}")
    return rules


def _balance(sp: ServicePort, chain: str, endpoints: Sequence[Endpoint]) -> list[str]:
    """*chain* picks one of *endpoints*: a recent choice first (ClientIP affinity), else at
    random with ``statistic --probability 1/(n-i)``."""
    rules: list[str] = []
    if sp.affinity_seconds:
        for ep in endpoints:
            rules.append(f"-A {chain} -m recent --name {sep_chain(sp, ep)} --mask "
                         f"255.255.255.255 --rsource --rcheck --seconds {sp.affinity_seconds} "
                         f"--reap -j {sep_chain(sp, ep)}")
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
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


def _port_nat(sp: ServicePort, cluster_cidr: str) -> tuple[list[str], list[str]]:
    """The nat chains and rules of one port that has a usable endpoint somewhere."""
    chains, rules = [], _entry_rules(sp, cluster_cidr)
    if sp.uses_cluster:
        chains.append(svc_chain(sp))
        rules += _balance(sp, svc_chain(sp), sp.endpoints)
    if sp.uses_local and sp.local_endpoints:
        chains.append(svl_chain(sp))
        rules += _balance(sp, svl_chain(sp), sp.local_endpoints)
    if sp.external_local:
        chains.append(ext_chain(sp))
        rules += _ext_rules(sp, cluster_cidr)
    for ep in sp.reachable():
        chains.append(sep_chain(sp, ep))
        rules += _sep_rules(sp, ep)
    return chains, rules


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
        if sp.has_endpoints:  # none: leave the addresses unanswered rather than mis-route them
            chains, port_rules = _port_nat(sp, cluster_cidr)
            wanted += chains
            rules += port_rules
    rules.append("-A KBOOT-SERVICES -m addrtype --dst-type LOCAL -j KBOOT-NODEPORTS")
    stale = sorted(c for c in set(existing_chains) - set(wanted) if c.startswith("KBOOT-"))
    lines = ["*nat", *(f":{c} - [0:0]" for c in [*wanted, *stale]), *rules]
    lines += [f"-X {c}" for c in stale]
    return "\n".join([*lines, "COMMIT", *_filter(ports), *filter_rules, "COMMIT", ""])


def _filter(ports: Sequence[ServicePort]) -> list[str]:
    """No endpoint anywhere: REJECT (clients fail fast). Endpoints, but none for a Local
    policy: DROP what the nat rules did not short-circuit (as upstream)."""
    lines = ["*filter", ":KBOOT-FILTER - [0:0]"]
    for sp in ports:
        if sp.has_endpoints:
            why, target = "has no local endpoints", "DROP"
        else:
            why, target = "has no endpoints", "REJECT --reject-with icmp-port-unreachable"
        tail = f'-m comment --comment "{sp.key} {why}" -j {target}'
        dests = [sp.cluster_ip] if not sp.has_internal_endpoints else []
        dests += sp.external_ips if not sp.has_external_endpoints else ()
        lines += [f"-A KBOOT-FILTER {_match(sp.protocol, d, sp.port)} {tail}" for d in dests]
        if sp.node_port and not sp.has_external_endpoints:
            proto = sp.protocol.lower()
            lines.append(f"-A KBOOT-FILTER -m addrtype --dst-type LOCAL -p {proto} "
                         f"-m {proto} --dport {sp.node_port} {tail}")
    return lines
