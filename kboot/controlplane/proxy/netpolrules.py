"""NetworkPolicy as iptables filter rules: a PURE function from :class:`netpol.Isolation` entries
to the ``*filter`` part of the proxy's ``iptables-restore --noflush`` input.

Where pod traffic can be filtered on a kboot node: pods hang off the bridge ``cni0`` (host-gw
routes to other nodes' podCIDRs, no overlay, no masquerade), and the proxy turns on
``bridge-nf-call-iptables``, so both same-node (bridged) and cross-node (routed) pod traffic
passes the ``FORWARD`` chain, after Service DNAT: a rule sees the translated destination (the
pod or node behind a cluster IP). Each node enforces for its own pods only: egress where the
packet leaves a local pod, ingress where it reaches one, so a cross-node connection is checked
by the sender's node for egress and the receiver's node for ingress.

Chains (``FORWARD`` jumps to ``KBOOT-NETPOL``)::

    KBOOT-NETPOL        established/related replies and the node's own addresses: RETURN;
                        -s <pod> → KBOOT-NP-E-<hash>; -d <pod> → KBOOT-NP-I-<hash>
    KBOOT-NP-E-<hash>   one RETURN per allowed (destination CIDR, protocol, port range), then DROP
    KBOOT-NP-I-<hash>   the same with source CIDRs, then DROP

(one chain per distinct allowance: pods of a namespace selected by the same policies share it).

RETURN (not ACCEPT) leaves the packet to the rest of ``FORWARD``, so a pod isolated both ways
on one node is checked by both chains. Traffic between the node and its pods never reaches
``FORWARD`` (it is INPUT/OUTPUT), so health checks are allowed as upstream CNIs allow them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kboot.controlplane.proxy.netpol import ANY, Allow, Isolation
from kboot.controlplane.proxy.rules import chain_hash

ENTRY = "KBOOT-NETPOL"
COMMENT_MAX = 255


def chain(iso: Isolation) -> str:
    """Pods with the same allowances (same namespace, policies and resolved rules) share one
    chain, so a policy over many alike pods costs one jump per pod, not one rule set each."""
    letter = "I" if iso.direction == "ingress" else "E"
    content = repr((iso.pod.namespace, iso.direction, iso.policies, iso.allows))
    return f"KBOOT-NP-{letter}-{chain_hash(content)}"


def _rule(name: str, allow: Allow, cidr: str, direction: str) -> str:
    parts = [f"-A {name}"]
    if cidr != ANY[0]:
        parts.append(f"{'-s' if direction == 'ingress' else '-d'} {cidr}")
    if allow.protocol:
        proto = allow.protocol.lower()
        parts.append(f"-p {proto}")
        if allow.port:
            ports = f"{allow.port}:{allow.end_port}" if allow.end_port else str(allow.port)
            parts.append(f"-m {proto} --dport {ports}")
    return " ".join([*parts, "-j RETURN"])


def _chain_rules(iso: Isolation) -> list[str]:
    name = chain(iso)
    rules = [_rule(name, allow, cidr, iso.direction) for allow in iso.allows
             for cidr in allow.cidrs]
    comment = f"{iso.pod.namespace}: {iso.direction} not allowed by {','.join(iso.policies)}"
    if len(comment) > COMMENT_MAX:  # the kernel's limit: longer comments fail the restore
        comment = comment[:COMMENT_MAX - 3] + "..."
    rules.append(f'-A {name} -m comment --comment "{comment}" -j DROP')
    return rules


def render(entries: Sequence[Isolation], *, existing_chains: Iterable[str] = ()) -> list[str]:
    """Lines for the ``*filter`` table (without ``*filter``/``COMMIT``): our chains declared
    (which flushes them), filled, and the chains no pod needs any more deleted."""
    chains: dict[str, Isolation] = {}
    for iso in entries:
        chains.setdefault(chain(iso), iso)
    wanted = [ENTRY, *chains]
    rules = [f"-A {ENTRY} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
             f'-A {ENTRY} -m addrtype --src-type LOCAL -m comment --comment "from this node" '
             "-j RETURN"]
    for iso in entries:
        flag = "-s" if iso.direction == "egress" else "-d"
        rules.append(f'-A {ENTRY} {flag} {iso.pod.ip}/32 -m comment --comment '
                     f'"{iso.pod.key} {iso.direction}" -j {chain(iso)}')
    for iso in chains.values():
        rules += _chain_rules(iso)
    stale = sorted(c for c in set(existing_chains) - set(wanted) if c.startswith("KBOOT-NP-"))
    return [*(f":{c} - [0:0]" for c in [*wanted, *stale]), *rules, *(f"-X {c}" for c in stale)]
