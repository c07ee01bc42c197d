"""The order in which ``kboot up`` restarts kboot's services after new code or certificates,
and the restart plan ``kboot up --check`` prints before an upgrade.

New code (a new kboot wheel in the bundle) or changed certificates only *record* the services
that must restart on a node (``/run/kboot/restart``, by the handlers of the bundle and pki
phases); ``playbooks/up/rolling-restart.yaml`` then restarts them one node at a time over the
group :data:`ROLLING_GROUP`, whose order is :func:`rolling_order`: the control planes first (in
inventory order: each one's etcd member healthy and apiserver ready before the next stops), then
the etcd-only members, then the other nodes. :func:`restart_plan` turns what a check run would
change into that plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kboot.cluster.topology import Node, Topology

ROLLING_GROUP = "kboot_rolling"

# the cluster registry's instances (certificates from the cluster CA: restarted when they change,
# e.g. by ``kboot certs rotate-ca``; the rolling restart skips those a node does not run)
REGISTRY_UNITS = ("kboot-registry@mirror", "kboot-registry@push", "kboot-registry@private")
# rolling-restart.yaml's order on one node (the etcd member before its apiserver)
UNITS = ("kboot-etcd", "kboot-apiserver", "kboot-scheduler", "kboot-controller-manager",
         "kboot-kubelet", "kboot-proxy", "kboot-dns", "kboot-ingress", *REGISTRY_UNITS)
# new code: etcd (a Debian package) and the registry (docker-registry) are not kboot's code
CODE_UNITS = tuple(u for u in UNITS[1:] if u not in REGISTRY_UNITS)
# what a changed task (by name; a handler or the task that notifies it) records for a restart
TRIGGERS: Mapping[str, tuple[str, ...]] = {
    "kboot code changed": CODE_UNITS,
    "the current virtualenv is this bundle's": CODE_UNITS,
    "kboot pki changed": UNITS,
    "certificates, keys and kubeconfigs": UNITS,
}
REASONS: Mapping[str, str] = {
    "kboot code changed": "new kboot code",
    "the current virtualenv is this bundle's": "new kboot code",
    "kboot pki changed": "new certificates",
    "certificates, keys and kubeconfigs": "new certificates",
}


def rolling_order(topo: Topology) -> tuple[str, ...]:
    """Control planes first, then etcd-only members, then the other nodes (each group in
    inventory order): the API and etcd's quorum are back on new code before any worker's
    kubelet restarts."""
    def rank(node: Node) -> int:
        return 0 if node.control_plane else 1 if node.etcd else 2

    return tuple(n.name for n in sorted(topo.nodes, key=rank))  # sorted() is stable


def units_on(node: Node) -> tuple[str, ...]:
    """The kboot services a node runs, in restart order (``--check`` lists only these)."""
    present = {"kboot-kubelet", "kboot-proxy", "kboot-dns"}  # every node (workers.yaml)
    if node.etcd:
        present.add("kboot-etcd")
    if node.control_plane:
        present |= {"kboot-apiserver", "kboot-scheduler", "kboot-controller-manager"}
    if node.ingress:
        present.add("kboot-ingress")
    return tuple(u for u in UNITS if u in present)


@dataclass(frozen=True)
class RestartStep:
    """One node's turn: the services restarted there, why, and what is waited for after."""

    host: str
    services: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def waits_for(self) -> tuple[str, ...]:
        return tuple(w for u, w in (("kboot-etcd", "etcd member healthy"),
                                    ("kboot-apiserver", "apiserver /readyz"))
                     if u in self.services)


def restart_plan(topo: Topology, changed: Iterable[tuple[str, str]]) -> list[RestartStep]:
    """The rolling restart that a run would make, from the (host, task) pairs a check run
    reported as changed: one step per node with something to restart, in
    :func:`rolling_order`, each with the services it runs among those its changes trigger."""
    pending: dict[str, set[str]] = {}
    reasons: dict[str, list[str]] = {}
    for host, task in changed:
        if task in TRIGGERS:
            pending.setdefault(host, set()).update(TRIGGERS[task])
            if REASONS[task] not in reasons.setdefault(host, []):
                reasons[host].append(REASONS[task])
    nodes = {n.name: n for n in topo.nodes}
    steps = []
    for name in rolling_order(topo):
        services = tuple(u for u in units_on(nodes[name]) if u in pending.get(name, ()))
        if services:
            steps.append(RestartStep(name, services, tuple(reasons[name])))
    return steps
