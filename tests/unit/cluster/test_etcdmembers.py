"""etcd membership planning as data: quorum math, what a removal would break, which members
are stale and how ``kboot up`` converges the member list on the inventory."""

from __future__ import annotations

import pytest

from kboot.cluster.etcdmembers import (
    ClusterView,
    Member,
    MembershipPlan,
    check_plan,
    parse_endpoint_status,
    parse_member_add,
    parse_members,
    plan_membership,
    quorum,
    removal_problem,
    stale_members,
    transferee,
)
from kboot.cluster.topology import topology_from_inventory
from kboot.inventory import Connection, Group, Host, Inventory
from tests.unit.cluster.fake_etcd import FakeEtcd, FakeMember

IPS = {"cp1": "10.0.0.11", "cp2": "10.0.0.12", "cp3": "10.0.0.13", "w1": "10.0.0.21"}


def topo(*cps: str):  # type: ignore[no-untyped-def]
    hosts = {n: Host(n, Connection(address=IPS[n])) for n in (*cps, "w1")}
    groups = {"control_plane": Group("control_plane", tuple(cps)),
              "workers": Group("workers", ("w1",))}
    return topology_from_inventory(Inventory("prod.yaml", hosts, groups,
                                             cluster={"name": "prod"}))


def member(i: int, name: str, *, learner: bool = False, ip: str | None = None) -> Member:
    return Member(i, name, (f"https://{ip or IPS[name]}:2380",), learner=learner)


M1, M2, M3 = member(1, "cp1"), member(2, "cp2"), member(3, "cp3")


def view(*members: Member, healthy: tuple[int, ...] | None = None, leader: int = 1
         ) -> ClusterView:
    ids = healthy if healthy is not None else tuple(m.id for m in members)
    return ClusterView(tuple(members), frozenset(ids), leader)


@pytest.mark.parametrize("voters,needed", [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
def test_quorum(voters: int, needed: int) -> None:
    assert quorum(voters) == needed


@pytest.mark.parametrize("v,target,why", [
    (view(M1, M2, M3), M3, ""),  # 3 -> 2, both healthy
    (view(M1, M2), M2, ""),  # 2 -> 1
    (view(M1, M2, M3, healthy=(1, 2)), M3, ""),  # removing the dead one helps
    (view(M1, M2, M3, healthy=(1, 3)), M3,
     "would leave 2 voting members of which only 1 answer (2 needed for quorum; "
     "not answering: cp2)"),
    (view(M1), M1, "cp1 is the last voting etcd member"),
    (view(M1, M2, M3, healthy=(1,)), M1, "etcd has no quorum now (1 of 3 voting members "
                                         "answer, 2 needed)"),
    (view(M1, M2, M3, member(4, "", learner=True, ip="10.0.0.14"), healthy=(1, 2)),
     member(4, "", learner=True, ip="10.0.0.14"), ""),  # a learner never votes
])
def test_removal_problem(v: ClusterView, target: Member, why: str) -> None:
    got = removal_problem(v, target)
    assert (why in got) if why else got == ""
    assert bool(got) == bool(why)


def test_transferee_is_a_healthy_voter_other_than_the_leader() -> None:
    assert transferee(view(M1, M2, M3, healthy=(1, 3)), M1) == M3
    assert transferee(view(M1), M1) is None


def test_parse_member_list_endpoint_status_and_member_add() -> None:
    fake = FakeEtcd([FakeMember(0x8E9E05C52164694D, "cp1", IPS["cp1"]),
                     FakeMember(0xA1, "", "10.0.0.14", learner=True, healthy=False)],
                    data={}, leader=0x8E9E05C52164694D)
    warning = '{"level":"warn","msg":"retrying"}'
    members = parse_members(f"{warning}\n{fake.member_list()}")
    assert members == (
        Member(0x8E9E05C52164694D, "cp1", ("https://10.0.0.11:2380",),
               ("https://10.0.0.11:2379",)),
        Member(0xA1, "", ("https://10.0.0.14:2380",), (), learner=True))
    assert members[0].hex_id == "8e9e05c52164694d" and not members[1].started
    assert parse_members("Error: context deadline exceeded") is None
    assert parse_endpoint_status(fake.endpoint_status()) == (
        frozenset({0x8E9E05C52164694D}), 0x8E9E05C52164694D)
    text = ('Member 2be1eb8f84b7f63e added to cluster ef37ad9dc622a7c4\n\nETCD_NAME="cp2"\n'
            'ETCD_INITIAL_CLUSTER="cp1=https://10.0.0.11:2380,cp2=https://10.0.0.12:2380"\n'
            'ETCD_INITIAL_CLUSTER_STATE="existing"\n')
    assert parse_member_add(text) == (
        "2be1eb8f84b7f63e", "cp1=https://10.0.0.11:2380,cp2=https://10.0.0.12:2380")
    with pytest.raises(ValueError, match="unexpected"):
        parse_member_add("Error: etcdserver: too many learner members in cluster")


def test_in_sync_needs_nothing() -> None:
    data = {"cp1": True, "cp2": True, "cp3": True}
    assert plan_membership(topo("cp1", "cp2", "cp3"), view(M1, M2, M3), data).empty


def test_grow_joins_new_members_in_inventory_order() -> None:
    plan = plan_membership(topo("cp1", "cp2", "cp3"), view(M1),
                           {"cp1": True, "cp2": False, "cp3": False})
    assert [n.name for n in plan.join] == ["cp2", "cp3"]
    assert plan.remove == () and plan.wipe == ()


def test_wiped_member_is_removed_then_joins_again() -> None:
    plan = plan_membership(topo("cp1", "cp2", "cp3"), view(M1, M2, M3, healthy=(1, 2)),
                           {"cp1": True, "cp2": True, "cp3": False})
    assert [(s.member, s.why) for s in plan.remove] == [
        (M3, "cp3 has no etcd data any more (a new disk?)")]
    assert [n.name for n in plan.join] == ["cp3"]
    assert check_plan(view(M1, M2, M3, healthy=(1, 2)), plan) == []


def test_stale_members_not_in_inventory_or_never_started() -> None:
    ghost = member(9, "cp9", ip="10.0.0.19")
    unstarted = member(7, "", learner=True, ip=IPS["cp3"])
    t = topo("cp1", "cp2", "cp3")
    found = stale_members(t, (M1, M2, unstarted, ghost), {"cp1": True, "cp2": True,
                                                          "cp3": False})
    assert [(s.member.id, s.why) for s in found] == [
        (7, "added for cp3 but never started"), (9, "not in the inventory")]
    # without data (kboot status): an unstarted member is still stale
    assert [s.member.id for s in stale_members(t, (M1, M2, unstarted))] == [7]
    plan = plan_membership(t, view(M1, M2, unstarted, ghost, healthy=(1, 2)),
                           {"cp1": True, "cp2": True, "cp3": False})
    assert [s.member.id for s in plan.remove] == [7, 9] and [n.name for n in plan.join] == ["cp3"]


def test_a_member_removed_while_away_comes_back_with_old_data() -> None:
    plan = plan_membership(topo("cp1", "cp2", "cp3"), view(M1, M2),
                           {"cp1": True, "cp2": True, "cp3": True})
    assert [n.name for n in plan.join] == ["cp3"] and plan.wipe == ("cp3",)


def test_a_learner_left_running_is_promoted() -> None:
    learner = member(3, "cp3", learner=True)
    plan = plan_membership(topo("cp1", "cp2", "cp3"), view(M1, M2, learner),
                           {"cp1": True, "cp2": True, "cp3": True})
    assert plan == MembershipPlan(promote=(learner,))


def test_check_plan_refuses_removals_that_lose_quorum() -> None:
    # inventory shrank to cp1 by hand while cp2 is down: removing healthy cp3 first would
    # leave cp1 + dead cp2
    v = view(M1, M2, M3, healthy=(1, 3))
    plan = plan_membership(topo("cp1"), v, {"cp1": True})
    assert [s.member.name for s in plan.remove] == ["cp2", "cp3"]
    assert check_plan(v, plan) == []  # dead cp2 goes first, then cp3 leaves cp1 alone
    v = view(M1, M2, M3, healthy=(1, 2))
    plan = MembershipPlan(remove=tuple(reversed(plan_membership(
        topo("cp1"), v, {"cp1": True}).remove)))
    problems = check_plan(view(M1, M2, M3, healthy=(1,)), plan)
    assert problems and "no quorum" in problems[0]
