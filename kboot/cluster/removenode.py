"""``kboot remove-node``: take one node — worker or control plane — out of a running cluster
cleanly, as kubespray's ``remove-node.yml``, k0sctl and RKE do.

The steps, in order; a re-run after a failure converges (every step is a no-op when done):

1. **check** (:func:`check_removable`): the node is in the inventory's topology and is not the
   last control plane.
2. **reach**: the host answers over SSH. An unreachable host stops the command before anything
   changes, unless ``force``: then the steps that need the host are skipped.
   An etcd member: the member list is read and the removal refused when it would leave fewer
   healthy voting members than the new quorum (:mod:`kboot.cluster.cpremove`) — still before
   anything changes.
3. **cordon and drain** (:mod:`kboot.cluster.drain`), as ``kubectl drain --ignore-daemonsets
   --delete-emptydir-data``: every pod but DaemonSet-owned and mirror pods evicted (disruption
   budgets' 429 retried until the timeout) and waited for until gone. On a dead host (forced) no
   kubelet would finish a graceful delete, so its pods are deleted with grace period 0 instead.
4. **dns**: the ``kube-dns`` Endpoints without the node, before its kboot-dns stops.
   An etcd member: **etcd** — leadership moved to another healthy member if the node leads,
   then the member removed. A control plane: **loadbalancers** — every other node's haproxy and
   the control planes' keepalived re-rendered without it.
5. **reset**: ``playbooks/reset.yaml`` on that host only; its kubelet stops for good.
6. **delete**: the Node object (only now: a running kubelet would register it again), its Lease
   in ``kube-node-lease``, and the node's address in Ingresses' ``status.loadBalancer`` (the other
   ingress nodes only ever remove their own).

The DaemonSet and mirror pods left in step 3 go with the Node object: the controller-manager's
pod GC deletes pods bound to a node that no longer exists.

API steps take a :class:`SyncClient` (tests drive them over the fake client); the host is reached
only through the :class:`PlaybookRunner` and a :data:`HostProbe`, both supplied by the caller.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from kboot.cluster.addons import dns_objects
from kboot.cluster.cpremove import (
    EtcdLeave,
    check_control_plane,
    etcd_view,
    leave_etcd,
    rerender_load_balancers,
    without,
)
from kboot.cluster.drain import Drained, Refused, cordon, drain
from kboot.cluster.etcdreconfig import Clock, HostRun, Progress, Sleep
from kboot.cluster.exec import run_on_hosts
from kboot.cluster.resources import playbooks_dir
from kboot.cluster.topology import Node, Topology, topology_from_inventory
from kboot.cluster.up import PlaybookRunner
from kboot.cluster.vars import with_nodes_group
from kboot.controlplane.client.api import Obj
from kboot.controlplane.client.errors import Conflict, NotFound
from kboot.controlplane.client.meta import key_of
from kboot.controlplane.client.sync import SyncClient
from kboot.errors import ClusterError, ConfigError
from kboot.inventory import Inventory
from kboot.playbook.state import TransportFactory

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
HostProbe = Callable[[str], str]  # host -> "" when it answers over SSH, else why it does not
StepCallback = Callable[[str, str], None]  # (step, "start" | "ok" | "skipped" | "failed")


@dataclass(frozen=True)
class RemoveReport:
    cluster: str
    node: str
    registered: bool  # the Node object existed (else cordon, drain and its deletion were no-ops)
    drained: Drained
    unreachable: str = ""  # why the host was skipped (forced); "" when it was reset
    lease_deleted: bool = False
    ingresses: tuple[str, ...] = ()  # Ingresses whose status no longer lists the node
    etcd: EtcdLeave | None = None  # an etcd member: what happened to its membership
    load_balancers: bool = False  # a control plane: the others' haproxy/keepalived re-rendered

    @property
    def host_reset(self) -> bool:
        return not self.unreachable


def check_removable(topo: Topology, name: str) -> Node:
    """The node ``name``; ConfigError for an unknown node or the last control plane."""
    try:
        node = topo.node(name)
    except KeyError:
        names = ", ".join(n.name for n in topo.nodes)
        raise ConfigError(f"{name!r} is not a node of cluster {topo.name!r} "
                          f"(nodes: {names})") from None
    try:
        check_control_plane(topo, node)
    except ClusterError as err:
        raise ConfigError(str(err)) from None
    return node


def host_probe(inventory: Inventory, *, transports_factory: TransportFactory | None = None
               ) -> HostProbe:
    """A probe running ``true`` on the host through the engine (the caller's connections)."""
    def probe(host: str) -> str:
        out = run_on_hosts(inventory, {host: "true"}, transports_factory=transports_factory,
                           forks=1)[host]
        return (out.message or "unreachable") if out.status == "unreachable" else ""
    return probe


def set_dns_endpoints(api: SyncClient, topo: Topology, *, without: str) -> None:
    """The ``kube-dns`` Endpoints (every node's kboot-dns) without the removed node."""
    rest = dataclasses.replace(topo, nodes=tuple(n for n in topo.nodes if n.name != without))
    for obj in dns_objects(rest):
        if obj["kind"] == "Endpoints":
            api.apply(obj, field_manager="kboot")


def _lb_entries(ing: Obj) -> list[Obj]:
    return list(((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])


def _without_address(api: SyncClient, ing: Obj, ip: str) -> bool:
    """One Ingress's status without ``ip``; whether it changed. A read-modify-write racing the
    ingress controllers' own, so a conflict reads the Ingress again."""
    for _ in range(3):
        kept = [e for e in _lb_entries(ing) if e.get("ip") != ip]
        if len(kept) == len(_lb_entries(ing)):
            return False
        ing.setdefault("status", {})["loadBalancer"] = {"ingress": kept}
        try:
            api.replace("ingresses", ing, subresource="status")
            return True
        except Conflict:
            ing = api.get("ingresses", ing["metadata"]["name"],
                          namespace=ing["metadata"]["namespace"])
        except NotFound:
            return False
    log.warning("ingress %s: status still lists %s after 3 conflicts", key_of(ing), ip)
    return False


def forget_ingress_address(api: SyncClient, ip: str) -> tuple[str, ...]:
    """Remove ``ip`` from every Ingress's ``status.loadBalancer.ingress``; the names changed."""
    return tuple(key_of(ing) for ing in api.list("ingresses")
                 if _without_address(api, ing, ip))


def delete_node(api: SyncClient, name: str) -> tuple[bool, bool]:
    """Delete the Node object, then its Lease; whether each existed."""
    found = []
    for ref, namespace in (("nodes", None), ("leases", LEASE_NAMESPACE)):
        try:
            api.delete(ref, name, namespace=namespace)
            found.append(True)
        except NotFound:
            found.append(False)
    return found[0], found[1]


def _reset_host(inventory: Inventory, topo: Topology, node: Node, *, runner: PlaybookRunner,
                probe: HostProbe, force: bool) -> str:
    """Run the reset playbook on the node only; "" when done, else why it was skipped (a host
    that went away during the reset, with ``force``)."""
    one = with_nodes_group(inventory, dataclasses.replace(topo, nodes=(node,)))
    outcome = runner(playbooks_dir() / "reset.yaml", one, phase="reset")
    if outcome.ok:
        return ""
    why = probe(node.name)
    if why and force:
        return why
    raise ClusterError(f"reset of {node.name} failed; it is drained and its Node object kept "
                       "(re-run `kboot remove-node`):\n  " + "\n  ".join(outcome.failures))


def remove_node(inventory: Inventory, name: str, *, api: SyncClient, runner: PlaybookRunner,
                probe: HostProbe, force: bool = False, timeout: float = 120.0,
                run: HostRun | None = None,
                on_step: StepCallback = lambda step, status: None,
                on_refused: Refused = lambda pod, why: None,
                progress: Progress = lambda line: None, clock: Clock = time.monotonic,
                sleep: Sleep = time.sleep) -> RemoveReport:
    """Drain, reset and delete the node ``name`` (the module docstring has the steps); ``run``
    runs ``etcdctl`` on the members, needed when the node is an etcd member; ``progress`` gets a
    line while etcd refuses the member's removal as "not yet" (members restarted just before)."""
    topo = topology_from_inventory(inventory)
    node = check_removable(topo, name)
    on_step("reach", "start")
    unreachable = probe(name)
    if unreachable and not force:
        raise ClusterError(
            f"{name} is unreachable ({unreachable}); nothing was changed. Bring it back, or "
            "pass --force to delete its pods and Node object without draining or resetting it")
    etcd = None
    if node.etcd and topo.datastore == "etcd":
        if run is None:
            raise ClusterError(f"{name} is an etcd member: its removal needs etcdctl on the "
                               "members")
        etcd = etcd_view(inventory, topo, node, run)  # refuses before anything changes
    on_step("reach", "failed" if unreachable else "ok")
    on_step("drain", "start")
    registered = cordon(api, name)
    drained = (drain(api, name, timeout=timeout, delete_now=bool(unreachable),
                     on_refused=on_refused, clock=clock, sleep=sleep)
               if registered else Drained())
    set_dns_endpoints(api, topo, without=name)
    on_step("drain", "ok" if registered else "skipped")
    left = None
    if etcd is not None and run is not None:
        on_step("etcd", "start")
        left = leave_etcd(topo, node, *etcd, run=run, reachable=not unreachable,
                          progress=progress, clock=clock, sleep=sleep)
        on_step("etcd", "ok" if left.member else "skipped")
    if node.control_plane:
        on_step("loadbalancers", "start")
        rerender_load_balancers(inventory, without(topo, name), runner=runner)
        on_step("loadbalancers", "ok")
    on_step("reset", "start")
    if not unreachable:
        unreachable = _reset_host(inventory, topo, node, runner=runner, probe=probe,
                                  force=force)
    on_step("reset", "skipped" if unreachable else "ok")
    on_step("delete", "start")
    _, lease = delete_node(api, name)
    ingresses = forget_ingress_address(api, node.ip) if node.ingress else ()
    on_step("delete", "ok")
    log.info("removed node %s from cluster %s", name, topo.name)
    return RemoveReport(topo.name, name, registered, drained, unreachable, lease, ingresses,
                        left, node.control_plane)
