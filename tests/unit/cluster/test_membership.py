"""``kboot up``'s etcd membership step and ``kboot remove-node``'s etcd part over a fake etcd
(canned ``etcdctl`` answers) and a fake playbook runner: the commands, their hosts and order."""

from __future__ import annotations

from pathlib import Path

import pytest

from kboot.cluster.membership import converge_members, gather
from kboot.cluster.topology import topology_from_inventory
from kboot.cluster.up import PhaseOutcome
from kboot.errors import ClusterError
from kboot.inventory import Connection, Group, Host, Inventory
from tests.unit.cluster.fake_etcd import FakeEtcd, FakeMember, Refusal

UNHEALTHY = "etcdserver: unhealthy cluster"

IPS = {"cp1": "10.0.0.11", "cp2": "10.0.0.12", "cp3": "10.0.0.13", "w1": "10.0.0.21"}


def inventory(*cps: str) -> Inventory:
    hosts = {n: Host(n, Connection(address=IPS[n])) for n in (*cps, "w1")}
    groups = {"control_plane": Group("control_plane", tuple(cps)),
              "workers": Group("workers", ("w1",))}
    return Inventory("prod.yaml", hosts, groups, cluster={"name": "prod"})


class Runner:
    """Runs the join playbook as the member starting: the fake learner gets its name."""

    def __init__(self, etcd: FakeEtcd) -> None:
        self.etcd, self.runs = etcd, list[tuple[str, str, dict[str, object]]]()

    def __call__(self, playbook: Path, inv: Inventory, *, phase: str) -> PhaseOutcome:
        assert playbook.is_file(), playbook
        (host,) = inv.groups["kboot_etcd_join"].hosts
        v = inv.hosts[host].vars
        self.runs.append((playbook.name, host, {k: v[k] for k in (
            "etcd_initial_cluster", "etcd_initial_cluster_state", "etcd_wipe_data")}))
        self.etcd.log.append((host, "join playbook"))
        self.etcd.started(host, IPS[host])
        return PhaseOutcome(ok=True, changed=3)


def members(*names: str) -> list[FakeMember]:
    return [FakeMember(i + 1, n, IPS[n]) for i, n in enumerate(names)]


def converge(etcd: FakeEtcd, inv: Inventory) -> tuple[list[str], Runner]:
    runner, lines = Runner(etcd), list[str]()
    converge_members(inv, topology_from_inventory(inv), run=etcd, runner=runner,
                     progress=lines.append)
    return lines, runner


def test_new_cluster_is_left_to_the_etcd_phase() -> None:
    etcd = FakeEtcd([], data={"cp1": False, "cp2": False, "cp3": False})
    lines, runner = converge(etcd, inventory("cp1", "cp2", "cp3"))
    assert lines == [] and runner.runs == []
    assert [w for _, w in etcd.log] == ["gather"] * 3  # one round trip, nothing else


def test_grow_one_to_three_one_learner_at_a_time() -> None:
    etcd = FakeEtcd(members("cp1"), data={"cp1": True, "cp2": False, "cp3": False}, leader=1)
    lines, runner = converge(etcd, inventory("cp1", "cp2", "cp3"))
    acts = [(h, w) for h, w in etcd.log if w != "gather"]
    assert acts == [("cp1", "add cp2"), ("cp2", "join playbook"), ("cp1", "promote a1"),
                    ("cp1", "add cp3"), ("cp3", "join playbook"), ("cp1", "promote a2")]
    assert runner.runs[0] == ("etcd-join.yaml", "cp2", {
        "etcd_initial_cluster": "cp1=https://10.0.0.11:2380,cp2=https://10.0.0.12:2380",
        "etcd_initial_cluster_state": "existing", "etcd_wipe_data": False})
    assert runner.runs[1][2]["etcd_initial_cluster"] == (
        "cp1=https://10.0.0.11:2380,cp2=https://10.0.0.12:2380,cp3=https://10.0.0.13:2380")
    assert lines[:2] == ["etcd: cp2 added as learner a1",
                         "etcd: cp2 caught up and promoted to a voting member"]
    assert [(m.name, m.learner) for m in etcd.members] == [
        ("cp1", False), ("cp2", False), ("cp3", False)]


def test_an_add_right_after_a_promotion_waits_for_etcd() -> None:
    # growing by two: cp2 was just promoted, so etcd refuses cp3's add until it is connected
    # 5 s (asked again after a real 0.5 s here)
    etcd = FakeEtcd(members("cp1"), data={"cp1": True, "cp2": False, "cp3": False}, leader=1,
                    refusals={"add": [Refusal(UNHEALTHY, when="add cp3")]})
    lines, _ = converge(etcd, inventory("cp1", "cp2", "cp3"))
    assert [w for h, w in etcd.log if h == "cp1" and w != "gather"] == [
        "add cp2", "promote a1", f"refused: {UNHEALTHY}", "add cp3", "promote a2"]
    assert [(m.name, m.learner) for m in etcd.members] == [
        ("cp1", False), ("cp2", False), ("cp3", False)]
    assert lines[2] == ("etcd: waiting for every voting member to be connected ≥ 5 s before "
                        f"adding cp3 (etcd said: {UNHEALTHY}; up to 90s)")


def test_wiped_member_is_replaced_and_a_stale_one_removed() -> None:
    ghost = FakeMember(0x99, "", "10.0.0.99", learner=True, healthy=False)  # never started
    etcd = FakeEtcd([*members("cp1", "cp2", "cp3"), ghost],
                    data={"cp1": True, "cp2": True, "cp3": False}, leader=1)
    etcd.members[2].healthy = False  # cp3's disk was wiped: its etcd is gone
    lines, _ = converge(etcd, inventory("cp1", "cp2", "cp3"))
    acts = [(h, w) for h, w in etcd.log if w != "gather"]
    assert acts == [("cp1", "remove 3"), ("cp1", "remove 99"), ("cp1", "add cp3"),
                    ("cp3", "join playbook"), ("cp1", "promote a1")]
    assert lines[0] == ("etcd: removed stale member cp3 (cp3 has no etcd data any more "
                        "(a new disk?))")
    assert sorted(m.name for m in etcd.members) == ["cp1", "cp2", "cp3"]


def test_in_sync_changes_nothing_and_unreachable_member_stops_a_change() -> None:
    etcd = FakeEtcd(members("cp1", "cp2", "cp3"), data=dict.fromkeys(("cp1", "cp2", "cp3"),
                                                                      True), leader=1)
    assert converge(etcd, inventory("cp1", "cp2", "cp3"))[0] == []
    etcd.unreachable = {"cp3"}
    with pytest.raises(ClusterError, match="cp3 unreachable; kboot up cannot check"):
        converge(etcd, inventory("cp1", "cp2", "cp3"))


def test_a_removal_that_loses_quorum_is_refused_before_any_change() -> None:
    # the inventory shrank to cp1 by hand while cp2 is down and cp3 answers
    etcd = FakeEtcd(members("cp1", "cp2", "cp3"), data={"cp1": True}, leader=1)
    etcd.members[1].healthy = etcd.members[2].healthy = False
    with pytest.raises(ClusterError, match="no quorum now"):
        converge(etcd, inventory("cp1"))
    assert [w for _, w in etcd.log] == ["gather"]


def test_gather_takes_the_view_that_reached_most_members() -> None:
    etcd = FakeEtcd(members("cp1", "cp2", "cp3"), data=dict.fromkeys(("cp1", "cp2", "cp3"),
                                                                     True), leader=2)
    inv = inventory("cp1", "cp2", "cp3")
    g = gather(inv, topology_from_inventory(inv), etcd)
    assert g.view is not None and g.view.leader == 2 and len(g.view.healthy) == 3
    assert g.has_data == {"cp1": True, "cp2": True, "cp3": True}
