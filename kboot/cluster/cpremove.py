"""The control-plane part of ``kboot remove-node``: the quorum check before anything changes,
etcd leadership moved away and the member removed, and every remaining node's API load balancer
(haproxy) and the control planes' virtual address (keepalived) re-rendered without the node.

The load balancers are rendered by ``kboot up``'s own ``playbooks/up/loadbalancer.yaml`` over
the topology without the node, so what remove-node leaves is exactly what the next ``kboot up``
of the edited inventory renders (it then changes nothing there).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

from kboot.cluster.etcdmembers import ClusterView, Member, member_of, removal_problem, transferee
from kboot.cluster.etcdreconfig import (
    Clock,
    HostRun,
    Progress,
    Sleep,
    leader_move,
    reconfigure,
    removal,
)
from kboot.cluster.etcdsnap import ops_inventory
from kboot.cluster.membership import gather
from kboot.cluster.registry import ensure_credentials, registry_settings, registry_vars
from kboot.cluster.resources import playbooks_dir
from kboot.cluster.rollout import ROLLING_GROUP, rolling_order
from kboot.cluster.topology import Node, Topology, state_dir
from kboot.cluster.up import PlaybookRunner
from kboot.cluster.vars import api_vip_priority, cluster_vars
from kboot.errors import ClusterError
from kboot.inventory import Inventory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EtcdLeave:
    """What happened to the node's etcd member."""

    member: str = ""  # hex id removed; "" when it was not a member (any more)
    leader_moved_to: str = ""  # the member that took over leadership, if the node led


def without(topo: Topology, name: str) -> Topology:
    return dataclasses.replace(topo, nodes=tuple(n for n in topo.nodes if n.name != name))


def check_control_plane(topo: Topology, node: Node) -> None:
    """Refuse removing the cluster's last control plane (or the embedded store's holder)."""
    if node.control_plane and len(topo.control_planes) == 1:
        raise ClusterError(f"{node.name} is the last control plane of cluster {topo.name!r}; "
                           "removing it would remove the cluster (kboot reset does that)")


def etcd_view(inventory: Inventory, topo: Topology, node: Node, run: HostRun
              ) -> tuple[ClusterView, Member | None]:
    """The member list as the healthiest member sees it, and the node's member; ClusterError
    when no member answers or removing the node would lose quorum."""
    g = gather(inventory, topo, run)
    if g.view is None:
        raise ClusterError("etcd: no member answered with the member list (asked "
                           + ", ".join(n.name for n in topo.etcd_members)
                           + "); nothing was changed")
    member = member_of(g.view, node)
    if member is not None:
        why = removal_problem(g.view, member)
        if why:
            raise ClusterError(f"refusing to remove {node.name}: {why}; nothing was changed")
    return g.view, member


def leave_etcd(topo: Topology, node: Node, view: ClusterView, member: Member | None, *,
               run: HostRun, reachable: bool, progress: Progress = lambda _: None,
               clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> EtcdLeave:
    """Leadership moved away (when the node leads and answers), then the member removed
    through another healthy member — asked again while etcd answers "not yet" (members
    restarted less than 5 s ago: :mod:`kboot.cluster.etcdreconfig`)."""
    if member is None:
        return EtcdLeave()
    moved = ""
    if member.id == view.leader and reachable:
        to = transferee(view, member)
        if to is not None:
            reconfigure(run, node.name, leader_move(to), progress=progress, clock=clock,
                        sleep=sleep)
            moved = to.label
    others = [n for n in topo.etcd_members if n.name != node.name
              and (m := member_of(view, n)) is not None and m.id in view.healthy]
    if not others:
        raise ClusterError(f"etcd: no other healthy member to remove {node.name} through")
    reconfigure(run, others[0].name, removal(member), progress=progress, clock=clock,
                sleep=sleep)
    log.info("etcd member %s (%s) removed", member.hex_id, node.name)
    return EtcdLeave(member.hex_id, moved)


def rerender_load_balancers(inventory: Inventory, topo: Topology, *, runner: PlaybookRunner
                            ) -> None:
    """haproxy on every node and keepalived on the control planes of ``topo`` (the cluster
    without the removed node), as ``kboot up``'s loadbalancer phase renders them."""
    creds = ensure_credentials(state_dir(topo.name))
    defaults = {**cluster_vars(topo, bundle={}),
                **registry_vars(registry_settings(inventory), topo, creds)}
    per_host = {n.name: {"api_vip_priority": api_vip_priority(topo, n)} for n in topo.nodes}
    inv = ops_inventory(inventory, topo, defaults=defaults, per_host=per_host,
                        groups={ROLLING_GROUP: rolling_order(topo)})
    outcome = runner(playbooks_dir() / "up" / "loadbalancer.yaml", inv, phase="loadbalancer")
    if not outcome.ok:
        raise ClusterError("re-rendering the load balancers failed (re-run `kboot remove-node`"
                           "; the etcd member is already removed):\n  "
                           + "\n  ".join(outcome.failures))
