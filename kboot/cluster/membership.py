"""Changing etcd's membership on a running cluster: what ``kboot up`` does before its etcd
phase (remove stale members, join new or wiped members as learners and promote them) and the
etcd part of removing a control plane (``kboot remove-node``).

The planning is pure (:mod:`kboot.cluster.etcdmembers`); this module asks the hosts and acts.
``etcdctl`` runs on the members themselves, against their local endpoint with their own
certificates (as ``kboot status`` and ``kboot backup`` do), through a :data:`HostRun` the caller
supplies — the engine over SSH, or canned answers in tests.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from kboot.cluster.etcdmembers import (
    ClusterView,
    MembershipPlan,
    check_plan,
    etcd_ops_hosts,
    member_of,
    parse_endpoint_status,
    parse_member_add,
    parse_members,
    peer_url,
    plan_membership,
)
from kboot.cluster.etcdreconfig import (
    HostRun,
    Progress,
    ctl,
    learner_add,
    promotion,
    reconfigure,
    removal,
)
from kboot.cluster.etcdsnap import host_data_dir
from kboot.cluster.exec import HostOutput, run_on_hosts
from kboot.cluster.resources import playbooks_dir
from kboot.cluster.status import MARK, split_sections
from kboot.cluster.topology import Node, Topology
from kboot.cluster.up import PlaybookRunner
from kboot.errors import ClusterError
from kboot.inventory import Group, Inventory
from kboot.playbook.state import TransportFactory

log = logging.getLogger(__name__)

JOIN_GROUP = "kboot_etcd_join"


def engine_run(inventory: Inventory, transports_factory: TransportFactory | None = None
               ) -> HostRun:
    """A :data:`HostRun` through the engine (the caller's SSH connections)."""
    def run(commands: Mapping[str, str]) -> Mapping[str, HostOutput]:
        return run_on_hosts(inventory, commands, become=True,
                            transports_factory=transports_factory)
    return run


def gather_command(data_dir: str) -> str:
    """One round trip per member: does its data directory hold a member, and (if its etcd
    answers) the member list and every member's status."""
    return (f"echo '{MARK}data'; test -d {shlex.quote(data_dir)}/member && echo yes || echo no;"
            f" echo '{MARK}members'; {ctl('member list -w json')} 2>&1;"
            f" echo '{MARK}endpoints'; {ctl('endpoint status --cluster -w json')} 2>&1;"
            " exit 0")


@dataclass(frozen=True)
class Gathered:
    view: ClusterView | None  # None: no member answered with a member list
    has_data: dict[str, bool]  # etcd host -> its data directory holds a member
    unreachable: tuple[str, ...] = ()


def gather(inventory: Inventory, topo: Topology, run: HostRun) -> Gathered:
    """Every inventory member asked at once; the view of the first that knows the members
    (the one whose endpoint status reached most members)."""
    outputs = run({n.name: gather_command(host_data_dir(inventory, n)) for n in topo.etcd_members})
    has_data, best, unreachable = {}, None, []
    for node in topo.etcd_members:
        out = outputs.get(node.name)
        if out is None or out.status == "unreachable":
            unreachable.append(node.name)
            continue
        sections = split_sections(out.stdout)
        has_data[node.name] = sections.get("data", "").strip() == "yes"
        members = parse_members(sections.get("members", ""))
        if members is None:
            continue
        healthy, leader = parse_endpoint_status(sections.get("endpoints", ""))
        view = ClusterView(members, healthy, leader)
        if best is None or len(view.healthy) > len(best.healthy):
            best = view
    return Gathered(best, has_data, tuple(unreachable))


def promote(run: HostRun, host: str, member_hex: str, name: str, *, progress: Progress
            ) -> None:
    """Promote the learner once it has caught up (etcd refuses while it lags: asked again)."""
    reconfigure(run, host, promotion(member_hex, name), progress=progress)


def _join_inventory(cinv: Inventory, node: Node, *, initial_cluster: str, wipe: bool
                    ) -> Inventory:
    host = cinv.hosts[node.name]
    joined = dataclasses.replace(host, vars={
        **host.vars, "etcd_initial_cluster": initial_cluster,
        "etcd_initial_cluster_state": "existing", "etcd_wipe_data": wipe})
    return dataclasses.replace(cinv, hosts={**cinv.hosts, node.name: joined},
                               groups={**cinv.groups, JOIN_GROUP: Group(JOIN_GROUP,
                                                                        hosts=(node.name,))})


def join(cinv: Inventory, node: Node, *, via: str, run: HostRun, runner: PlaybookRunner,
         wipe: bool, progress: Progress) -> None:
    """Add ``node`` as a learner (through the member on host ``via``), start it with the
    membership etcd answered, and promote it once it has caught up."""
    # etcd refuses to add ("unhealthy cluster") until every voting member has been connected
    # for 5 s — a member promoted just before (growing by two) is not yet: asked again
    text = reconfigure(run, via, learner_add(node.name, peer_url(node)), progress=progress)
    member_hex, initial = parse_member_add(text)
    progress(f"etcd: {node.name} added as learner {member_hex}")
    outcome = runner(playbooks_dir() / "up" / "etcd-join.yaml",
                     _join_inventory(cinv, node, initial_cluster=initial, wipe=wipe),
                     phase="etcd-join")
    if not outcome.ok:
        raise ClusterError(f"etcd: starting learner {node.name} failed (re-run `kboot up`: "
                           "the unstarted member is removed and added again):\n  "
                           + "\n  ".join(outcome.failures))
    promote(run, via, member_hex, node.name, progress=progress)
    progress(f"etcd: {node.name} caught up and promoted to a voting member")


def converge_members(cinv: Inventory, topo: Topology, *, run: HostRun, runner: PlaybookRunner,
                     progress: Progress = lambda line: None) -> MembershipPlan:
    """Before ``kboot up``'s etcd phase: bring etcd's member list in line with the inventory.
    A cluster none of whose members has data yet is a new one (the etcd phase bootstraps it)."""
    if topo.datastore != "etcd":
        return MembershipPlan()
    g = gather(cinv, topo, run)
    if not any(g.has_data.values()):
        return MembershipPlan()  # a new cluster: bootstrapped together by the etcd phase
    if g.view is None:
        if all(g.has_data.get(n.name) for n in topo.etcd_members):
            return MembershipPlan()  # every member has data: the etcd phase starts them
        raise ClusterError(
            "etcd: no member answered with the member list, so new or replaced members cannot "
            "join (the hosts with etcd data: "
            + ", ".join(h for h, d in g.has_data.items() if d) + "); start etcd there first")
    missing = [h for h in g.unreachable]
    if missing:
        raise ClusterError(f"etcd: {', '.join(missing)} unreachable; kboot up cannot check its "
                           "etcd membership (bring it back, or remove it: kboot remove-node "
                           "--force)")
    plan = plan_membership(topo, g.view, g.has_data)
    problems = check_plan(g.view, plan)
    if problems:
        raise ClusterError("etcd: " + "; ".join(problems))
    _apply(cinv, topo, g.view, plan, run=run, runner=runner, progress=progress)
    return plan


def _apply(cinv: Inventory, topo: Topology, view: ClusterView, plan: MembershipPlan, *,
           run: HostRun, runner: PlaybookRunner, progress: Progress) -> None:
    leaving = {s.member.id for s in plan.remove}
    ops = [n for n in etcd_ops_hosts(topo, view)
           if (m := member_of(view, n)) is not None and m.id not in leaving]
    if not ops:
        raise ClusterError("etcd: no healthy voting member of the inventory to change the "
                           "membership through")
    via = ops[0].name
    for stale in plan.remove:
        reconfigure(run, via, removal(stale.member), progress=progress)
        progress(f"etcd: removed stale member {stale.member.label} ({stale.why})")
    for member in plan.promote:
        promote(run, via, member.hex_id, member.label, progress=progress)
        progress(f"etcd: learner {member.label} promoted")
    for node in plan.join:
        join(cinv, node, via=via, run=run, runner=runner, wipe=node.name in plan.wipe,
             progress=progress)
