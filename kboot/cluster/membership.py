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
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kboot.cluster.etcdmembers import (
    ClusterView,
    Member,
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
from kboot.cluster.etcdsnap import etcdctl, host_data_dir
from kboot.cluster.exec import HostOutput, run_on_hosts
from kboot.cluster.resources import playbooks_dir
from kboot.cluster.status import MARK, split_sections
from kboot.cluster.topology import Node, Topology
from kboot.cluster.up import PlaybookRunner
from kboot.errors import ClusterError
from kboot.inventory import Group, Inventory
from kboot.playbook.state import TransportFactory

log = logging.getLogger(__name__)

HostRun = Callable[[Mapping[str, str]], Mapping[str, HostOutput]]
"""Runs each host's shell command (as root), one round trip per host: ``{host: command}``."""
Progress = Callable[[str], None]  # one line per membership change, for the CLI
JOIN_GROUP = "kboot_etcd_join"
ADD_WAIT = 60  # seconds etcd may refuse to add a learner while a new voter settles
PROMOTE_WAIT = 180  # seconds a learner may take to catch up before its promotion gives up
ETCDCTL_TIMEOUT = "--command-timeout=5s"


def engine_run(inventory: Inventory, transports_factory: TransportFactory | None = None
               ) -> HostRun:
    """A :data:`HostRun` through the engine (the caller's SSH connections)."""
    def run(commands: Mapping[str, str]) -> Mapping[str, HostOutput]:
        return run_on_hosts(inventory, commands, become=True,
                            transports_factory=transports_factory)
    return run


def _ctl(args: str) -> str:
    return f"{etcdctl()} {ETCDCTL_TIMEOUT} {args}"


def gather_command(data_dir: str) -> str:
    """One round trip per member: does its data directory hold a member, and (if its etcd
    answers) the member list and every member's status."""
    return (f"echo '{MARK}data'; test -d {shlex.quote(data_dir)}/member && echo yes || echo no;"
            f" echo '{MARK}members'; {_ctl('member list -w json')} 2>&1;"
            f" echo '{MARK}endpoints'; {_ctl('endpoint status --cluster -w json')} 2>&1;"
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


def _one(run: HostRun, host: str, command: str, what: str) -> str:
    out = run({host: command}).get(host)
    if out is None or not out.ok:
        said = (out.stderr or out.stdout or out.message).strip()[-500:] if out else "no answer"
        raise ClusterError(f"etcd: {what} on {host} failed: {said}")
    return out.stdout


def remove_member(run: HostRun, host: str, member: Member) -> None:
    _one(run, host, _ctl(f"member remove {member.hex_id}"),
         f"removing member {member.label}")


def move_leader(run: HostRun, leader_host: str, to: Member) -> None:
    """``move-leader`` must be sent to the current leader: run on the leading member's host."""
    _one(run, leader_host, _ctl(f"move-leader {to.hex_id}"),
         f"moving leadership to {to.label}")


def _asked_until(ask: str, *, seconds: int, again_when: str = "*", done_when: str = "''",
                 gave_up: str) -> str:
    """A shell script running ``ask`` each second, up to ``seconds`` times, until it succeeds
    (its output printed) or answers ``done_when``; an answer other than ``again_when`` (case
    patterns) fails at once, with it; the last refusal fails with ``gave_up``."""
    return (f"for i in $(seq 1 {seconds}); do"
            f" out=$({ask} 2>&1) && {{ echo \"$out\"; exit 0; }};"
            f" case \"$out\" in {done_when}) exit 0;; {again_when}) sleep 1;;"
            " *) echo \"$out\" >&2; exit 1;; esac; done;"
            f" echo \"$out\" >&2; echo {shlex.quote(gave_up)} >&2; exit 1")


def promote(run: HostRun, host: str, member_hex: str, name: str) -> None:
    """Promote the learner once it has caught up: etcd refuses while it lags, so ask again
    each second for up to :data:`PROMOTE_WAIT` seconds, in one round trip."""
    script = _asked_until(_ctl(f"member promote {member_hex}"), seconds=PROMOTE_WAIT,
                          done_when="*'not a learner'*",
                          gave_up=f"learner {name} did not catch up in {PROMOTE_WAIT}s")
    _one(run, host, script, f"promoting learner {name}")


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
    # etcd refuses a reconfiguration ("unhealthy cluster") until every voting member has been
    # connected for 5 s — a member promoted just before (growing by two) is not yet: ask again
    add = _ctl(f"member add {shlex.quote(node.name)} --learner --peer-urls={peer_url(node)}")
    script = _asked_until(add, seconds=ADD_WAIT, again_when="*'unhealthy cluster'*",
                          gave_up=f"etcd refused to add {node.name} for {ADD_WAIT}s")
    text = _one(run, via, script, f"adding learner {node.name}")
    member_hex, initial = parse_member_add(text)
    progress(f"etcd: {node.name} added as learner {member_hex}")
    outcome = runner(playbooks_dir() / "up" / "etcd-join.yaml",
                     _join_inventory(cinv, node, initial_cluster=initial, wipe=wipe),
                     phase="etcd-join")
    if not outcome.ok:
        raise ClusterError(f"etcd: starting learner {node.name} failed (re-run `kboot up`: "
                           "the unstarted member is removed and added again):\n  "
                           + "\n  ".join(outcome.failures))
    promote(run, via, member_hex, node.name)
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
        remove_member(run, via, stale.member)
        progress(f"etcd: removed stale member {stale.member.label} ({stale.why})")
    for member in plan.promote:
        promote(run, via, member.hex_id, member.label)
        progress(f"etcd: learner {member.label} promoted")
    for node in plan.join:
        join(cinv, node, via=via, run=run, runner=runner, wipe=node.name in plan.wipe,
             progress=progress)
