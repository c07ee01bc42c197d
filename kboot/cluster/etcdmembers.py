"""etcd membership as data: what the cluster's member list says, what the inventory wants, and
whether a change keeps quorum. Pure functions, tested with canned ``etcdctl`` output.

kboot changes membership one member at a time, as etcd recommends:

- **joining** (:func:`plan_membership`): an inventory member that has no data directory (a new
  control plane, or one whose disk was wiped) is added as a *learner* (``member add
  --learner``), started with ``--initial-cluster-state existing``, and promoted once it has
  caught up with the leader. A learner does not vote, so a slow or failing join never costs
  quorum;
- **stale members** — in the member list but not in the inventory, added but never started, or
  the old identity of a host that lost its data — are removed first, each only if the members
  left keep a quorum of healthy voters (:func:`removal_problem`);
- **removing** a member (``kboot remove-node``) is refused when it is the last voter or when the
  healthy voters left would be fewer than the new quorum.

Members are matched to inventory hosts by peer URL (``https://<ip>:2380``): a member added but
never started has no name yet, and a name alone would not tell a replaced host from its
predecessor.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kboot.cluster.topology import Node, Topology


@dataclass(frozen=True)
class Member:
    id: int
    name: str  # "" until the member has started once
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...] = ()
    learner: bool = False

    @property
    def hex_id(self) -> str:
        return f"{self.id:x}"

    @property
    def started(self) -> bool:
        return bool(self.name)

    @property
    def label(self) -> str:
        return self.name or f"{self.hex_id} ({', '.join(self.peer_urls) or 'no peer URL'})"


@dataclass(frozen=True)
class ClusterView:
    """The member list and which members answered, as one healthy member saw them."""

    members: tuple[Member, ...]
    healthy: frozenset[int]  # ids of members that answered ``endpoint status``
    leader: int = 0

    @property
    def voters(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if not m.learner)

    def by_peer(self, url: str) -> Member | None:
        return next((m for m in self.members if url in m.peer_urls), None)


def peer_url(node: Node) -> str:
    return f"https://{node.ip}:2380"


def quorum(voters: int) -> int:
    return voters // 2 + 1


def json_value(text: str, kind: type) -> Any:
    """The last line of ``text`` that is a JSON value of ``kind`` (etcdctl also logs JSON
    warnings, which are objects with a ``level``)."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line.startswith(("{", "[")):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, kind) and not (isinstance(value, dict) and "level" in value):
            return value
    return None


def parse_members(text: str) -> tuple[Member, ...] | None:
    """``etcdctl member list -w json``; None when the text holds no member list."""
    doc = json_value(text, dict)
    if doc is None or "members" not in doc:
        return None
    return tuple(Member(id=int(m.get("ID", 0)), name=str(m.get("name") or ""),
                        peer_urls=tuple(m.get("peerURLs") or ()),
                        client_urls=tuple(m.get("clientURLs") or ()),
                        learner=bool(m.get("isLearner", False)))
                 for m in doc.get("members") or ())


def parse_endpoint_status(text: str) -> tuple[frozenset[int], int]:
    """``etcdctl endpoint status --cluster -w json``: the ids that answered and the leader."""
    statuses = json_value(text, list)
    answered, leader = set(), 0
    for st in statuses if isinstance(statuses, list) else []:
        status = st.get("Status") or {}
        leader = int(status.get("leader") or leader)
        answered.add(int((status.get("header") or {}).get("member_id") or 0))
    return frozenset(answered - {0}), leader


ADDED_ID = re.compile(r"Member\s+([0-9a-f]+)\s+added", re.I)
INITIAL_CLUSTER = re.compile(r'^ETCD_INITIAL_CLUSTER="([^"]*)"', re.M)


def parse_member_add(text: str) -> tuple[str, str]:
    """``etcdctl member add`` (simple output): the new member's hex id and the
    ``ETCD_INITIAL_CLUSTER`` it must start with; ValueError when the text has neither."""
    found, cluster = ADDED_ID.search(text), INITIAL_CLUSTER.search(text)
    if not found or not cluster:
        raise ValueError(f"unexpected `etcdctl member add` output: {text.strip()[-300:]!r}")
    return found.group(1), cluster.group(1)


def removal_problem(view: ClusterView, member: Member) -> str:
    """Why removing ``member`` would break the cluster ("" when it is safe): it is the last
    voter, the cluster has no quorum now, or the healthy voters left would be too few."""
    if member.learner:
        return ""
    voters = view.voters
    healthy_now = [m for m in voters if m.id in view.healthy]
    if len(healthy_now) < quorum(len(voters)):
        return (f"etcd has no quorum now ({len(healthy_now)} of {len(voters)} voting members "
                f"answer, {quorum(len(voters))} needed); membership cannot change")
    rest = [m for m in voters if m.id != member.id]
    if not rest:
        return f"{member.label} is the last voting etcd member"
    healthy = [m for m in rest if m.id in view.healthy]
    if len(healthy) < quorum(len(rest)):
        down = ", ".join(m.label for m in rest if m.id not in view.healthy)
        return (f"removing {member.label} would leave {len(rest)} voting members of which only "
                f"{len(healthy)} answer ({quorum(len(rest))} needed for quorum; not answering: "
                f"{down}); bring those back or remove them first")
    return ""


@dataclass(frozen=True)
class Stale:
    member: Member
    why: str


@dataclass(frozen=True)
class MembershipPlan:
    """What ``kboot up`` changes in etcd's membership, in order: remove, wipe, join, promote."""

    remove: tuple[Stale, ...] = ()
    join: tuple[Node, ...] = ()  # added as learners one by one, in inventory order
    wipe: tuple[str, ...] = ()  # hosts whose data belongs to an earlier membership
    promote: tuple[Member, ...] = ()  # learners already running (a join cut short)

    @property
    def empty(self) -> bool:
        return not (self.remove or self.join or self.wipe or self.promote)


def stale_members(topo: Topology, members: Iterable[Member],
                  has_data: Mapping[str, bool] | None = None) -> tuple[Stale, ...]:
    """Members the inventory does not account for. ``has_data`` (host -> whether its data
    directory exists) also marks the members of hosts that lost their data."""
    wanted = {peer_url(n): n for n in topo.etcd_members}
    out = []
    for m in members:
        node = next((wanted[u] for u in m.peer_urls if u in wanted), None)
        if node is None:
            out.append(Stale(m, "not in the inventory"))
        elif not m.started and not (has_data or {}).get(node.name, False):
            out.append(Stale(m, f"added for {node.name} but never started"))
        elif has_data is not None and not has_data.get(node.name, True):
            out.append(Stale(m, f"{node.name} has no etcd data any more (a new disk?)"))
    return tuple(out)


def plan_membership(topo: Topology, view: ClusterView, has_data: Mapping[str, bool]
                    ) -> MembershipPlan:
    """Converge etcd's members on the inventory's etcd group. ``has_data`` must name every
    inventory member (host -> whether its data directory holds a member)."""
    remove = stale_members(topo, view.members, has_data)
    removed = {s.member.id for s in remove}
    kept = [m for m in view.members if m.id not in removed]
    join, wipe, promote = [], [], []
    for node in topo.etcd_members:
        member = next((m for m in kept if peer_url(node) in m.peer_urls), None)
        if member is None:
            join.append(node)
            if has_data.get(node.name, False):
                wipe.append(node.name)  # it was removed (remove-node --force) and came back
        elif member.learner:
            promote.append(member)
    return MembershipPlan(tuple(remove), tuple(join), tuple(wipe), tuple(promote))


def check_plan(view: ClusterView, plan: MembershipPlan) -> list[str]:
    """Each removal of the plan checked against the membership the earlier ones leave."""
    problems, members = [], list(view.members)
    for stale in plan.remove:
        now = ClusterView(tuple(members), view.healthy, view.leader)
        why = removal_problem(now, stale.member)
        if why:
            problems.append(f"cannot remove stale member {stale.member.label} "
                            f"({stale.why}): {why}")
        members = [m for m in members if m.id != stale.member.id]
    return problems


def transferee(view: ClusterView, leaving: Member) -> Member | None:
    """The healthy voter leadership moves to when ``leaving`` leads (lowest name first)."""
    candidates = sorted((m for m in view.voters if m.id != leaving.id and m.id in view.healthy),
                        key=lambda m: m.name)
    return candidates[0] if candidates else None


def member_of(view: ClusterView, node: Node) -> Member | None:
    return view.by_peer(peer_url(node))


def etcd_ops_hosts(topo: Topology, view: ClusterView, *, besides: Collection[str] = ()
                   ) -> Sequence[Node]:
    """Inventory members that answered (where membership commands are run), ``besides``
    excluded."""
    out = []
    for node in topo.etcd_members:
        m = member_of(view, node)
        if m is not None and m.id in view.healthy and not m.learner and node.name not in besides:
            out.append(node)
    return out
