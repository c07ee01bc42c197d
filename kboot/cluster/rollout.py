"""The order in which ``kboot up`` restarts kboot's services after new code, certificates or
unit files, and the restart plan ``kboot up --check`` prints before an upgrade.

New code (a new kboot wheel in the bundle), changed certificates, the kubelet's kubeconfig
migration and a changed etcd or control-plane unit of a serving node only *record* the running
services that must restart on a node (``/run/kboot/restart``: the bundle, pki, etcd and
control-plane phases); ``playbooks/up/rolling-restart.yaml``, once per ``kboot up`` after the
loadbalancer phase (and after ``kboot certs renew``/``rotate-ca``'s push), restarts them one
node at a time over the group :data:`ROLLING_GROUP`, whose order is :func:`rolling_order`: the
control planes first (in inventory order: each one's etcd member healthy and apiserver ready
before the next stops), then the etcd-only members, then the other nodes. With drain (the
default, ``cluster.upgrade.drain``) the play restarts only the control planes and
:mod:`kboot.cluster.drainroll` takes the other nodes, same order: a node whose kubelet restarts
is cordoned and drained first, and uncordoned once Ready again.
:func:`restart_plan` turns what a check run would change into that plan.
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
# a looped task whose changed items are themselves the units recorded (control-plane.yaml)
EACH_ITEM: tuple[str, ...] = ()
# what a changed task (by name; a handler or the task that notifies it) records for a restart
TRIGGERS: Mapping[str, tuple[str, ...]] = {
    "kboot code changed": CODE_UNITS,  # bundle.yaml
    "the current virtualenv is this bundle's": CODE_UNITS,
    "kboot pki changed": UNITS,  # pki.yaml
    "certificates, keys and kubeconfigs": UNITS,
    "kubelet kubeconfig changed": ("kboot-kubelet",),  # pki.yaml, the one-time migration
    "the kubelet's kubeconfig trusts the pushed CA bundle": ("kboot-kubelet",),
    "etcd unit": ("kboot-etcd",),  # etcd.yaml: a serving member's restart is recorded
    "control-plane units": EACH_ITEM,  # control-plane.yaml: likewise, per changed unit
}
REASONS: Mapping[str, str] = {
    "kboot code changed": "new kboot code",
    "the current virtualenv is this bundle's": "new kboot code",
    "kboot pki changed": "new certificates",
    "certificates, keys and kubeconfigs": "new certificates",
    "kubelet kubeconfig changed": "kubelet kubeconfig migrated",
    "the kubelet's kubeconfig trusts the pushed CA bundle": "kubelet kubeconfig migrated",
    "etcd unit": "new service definitions",
    "control-plane units": "new service definitions",
}
# bundle.yaml's first task: changed only on a host kboot never set up, which runs no kboot
# service yet — every service it gets starts on the new code, certificates and units, and the
# phases record a restart only for a service running when they change something
FRESH_HOST = "kboot's state directory"


def rolling_order(topo: Topology) -> tuple[str, ...]:
    """Control planes first, then etcd-only members, then the other nodes (each group in
    inventory order): the API and etcd's quorum are back on new code before any worker's
    kubelet restarts."""
    def rank(node: Node) -> int:
        return 0 if node.control_plane else 1 if node.etcd else 2

    return tuple(n.name for n in sorted(topo.nodes, key=rank))  # sorted() is stable


def units_on(node: Node, *, registry: bool = False) -> tuple[str, ...]:
    """The kboot services a node runs, in restart order (``--check`` lists only these);
    ``registry``: the cluster registry is on (its instances run on the control planes)."""
    present = {"kboot-kubelet", "kboot-proxy", "kboot-dns"}  # every node (workers.yaml)
    if node.etcd:
        present.add("kboot-etcd")
    if node.control_plane:
        present |= {"kboot-apiserver", "kboot-scheduler", "kboot-controller-manager"}
        if registry:
            present.update(REGISTRY_UNITS)
    if node.ingress:
        present.add("kboot-ingress")
    return tuple(u for u in UNITS if u in present)


@dataclass(frozen=True)
class RestartStep:
    """One node's turn: the services restarted there, why, and what is waited for after."""

    host: str
    services: tuple[str, ...]
    reasons: tuple[str, ...]
    drain: bool = False  # cordoned and drained before, uncordoned after (a worker's kubelet)

    @property
    def waits_for(self) -> tuple[str, ...]:
        return tuple(w for u, w in (("kboot-etcd", "etcd member healthy"),
                                    ("kboot-apiserver", "apiserver /readyz"))
                     if u in self.services) + (("node Ready",) if self.drain else ())


def restart_plan(topo: Topology, changed: Iterable[tuple[str, str, str]], *,
                 registry: bool = False, drain: bool = False) -> list[RestartStep]:
    """The rolling restart that a run would make, from the (host, task, loop item or "")
    triples a check run reported as changed: one step per node with something to restart, in
    :func:`rolling_order`, each with the services it runs among those its changes trigger and
    the reasons that trigger them (nothing on a host kboot never set up: :data:`FRESH_HOST`);
    with ``drain``, a node other than a control plane whose kubelet restarts is drained."""
    triggered: dict[str, list[tuple[str, tuple[str, ...]]]] = {}  # host -> [(reason, units)]
    fresh = set()
    for host, task, item in changed:
        if task == FRESH_HOST:
            fresh.add(host)
        if task in TRIGGERS:
            units = TRIGGERS[task] or ((item,) if item in UNITS else ())
            triggered.setdefault(host, []).append((REASONS[task], units))
    nodes = {n.name: n for n in topo.nodes}
    steps = []
    for name in rolling_order(topo):
        if name in fresh:
            continue
        runs = set(units_on(nodes[name], registry=registry))
        reasons = [r for r, units in triggered.get(name, ()) if runs.intersection(units)]
        pending = {u for _, units in triggered.get(name, ()) for u in units}
        services = tuple(u for u in UNITS if u in runs and u in pending)
        if services:
            drains = drain and not nodes[name].control_plane and "kboot-kubelet" in services
            steps.append(RestartStep(name, services, tuple(dict.fromkeys(reasons)), drains))
    return steps
