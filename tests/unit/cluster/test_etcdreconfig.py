"""etcd membership changes over a fake etcd that first refuses them as etcd 3.4 does: "not
yet" answers (unhealthy cluster, learner not in sync, leader changed) asked again under a fake
clock with a progress line, permanent ones failing at once, and a clear message on giving up."""

from __future__ import annotations

import pytest

from kboot.cluster.etcdmembers import Member
from kboot.cluster.etcdreconfig import (
    Change,
    learner_add,
    promotion,
    reconfigure,
    removal,
)
from kboot.errors import ClusterError
from tests.unit.cluster.fake_etcd import FakeEtcd, FakeMember, Refusal

UNHEALTHY = "etcdserver: unhealthy cluster"
NOT_IN_SYNC = "etcdserver: can only promote a learner member which is in sync with leader"
IPS = {"cp1": "10.0.0.11", "cp2": "10.0.0.12", "cp3": "10.0.0.13"}


class Clock:
    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, list[float]()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def three(**refusals: list[Refusal]) -> FakeEtcd:
    return FakeEtcd([FakeMember(i + 1, n, ip) for i, (n, ip) in enumerate(IPS.items())],
                    data=dict.fromkeys(IPS, True), leader=1, refusals=refusals)


def cp3() -> Member:
    return Member(3, "cp3", (f"https://{IPS['cp3']}:2380",))


def change(etcd: FakeEtcd, what: Change, clock: Clock) -> tuple[str, list[str]]:
    lines = list[str]()
    out = reconfigure(etcd, "cp1", what, progress=lines.append, clock=clock, sleep=clock.sleep)
    return out, lines


def acts(etcd: FakeEtcd) -> list[str]:
    return [w for _, w in etcd.log]


def test_a_removal_refused_as_unhealthy_is_asked_again_until_etcd_takes_it() -> None:
    etcd, clock = three(remove=[Refusal(UNHEALTHY)] * 3), Clock()
    out, lines = change(etcd, removal(cp3()), clock)
    assert "removed" in out and [m.name for m in etcd.members] == ["cp1", "cp2"]
    assert acts(etcd) == [f"refused: {UNHEALTHY}"] * 3 + ["remove 3"]
    assert len(clock.sleeps) == 3 and 0 < clock.now < 10
    assert lines == ["etcd: waiting for every member to be connected ≥ 5 s before removing cp3 "
                     f"(etcd said: {UNHEALTHY}; up to 90s)"]  # once per reason


@pytest.mark.parametrize("error", [
    "etcdserver: member not found",
    "etcdserver: re-configuration failed due to not enough started members",
    "etcdserver: permission denied",
])
def test_a_permanent_refusal_fails_at_once(error: str) -> None:
    etcd, clock = three(remove=[Refusal(error)]), Clock()
    with pytest.raises(ClusterError, match=f"etcd: removing member cp3 on cp1 failed: {error}$"):
        change(etcd, removal(cp3()), clock)
    assert clock.sleeps == [] and acts(etcd) == [f"refused: {error}"]
    assert len(etcd.members) == 3


def test_giving_up_names_the_members_that_do_not_answer() -> None:
    etcd, clock = three(remove=[Refusal(UNHEALTHY)] * 1000), Clock()
    etcd.members[1].healthy = False  # cp2's etcd is down: cp3 is not safe to remove yet
    with pytest.raises(ClusterError) as err:
        change(etcd, removal(cp3()), clock)
    assert 90 <= clock.now < 95 and max(clock.sleeps) <= 3
    assert str(err.value) == (
        f"etcd: removing member cp3 on cp1 still refused after {clock.now:.0f}s "
        f"({len(clock.sleeps) + 1} attempts): {UNHEALTHY}; members not healthy now: "
        "cp2 (context deadline exceeded)")
    assert acts(etcd)[-1] == "health" and len(etcd.members) == 3


def test_giving_up_with_every_member_answering_says_so() -> None:
    etcd, clock = three(add=[Refusal(UNHEALTHY)] * 1000), Clock()
    with pytest.raises(ClusterError, match=r"adding learner cp4 on cp1 still refused after "
                       r"9\ds .*every member answers now \(etcd counts a member only once it "
                       r"has been connected for 5 s\): try again"):
        change(etcd, learner_add("cp4", "https://10.0.0.14:2380"), clock)


def test_a_removal_that_timed_out_but_was_applied_is_done_when_asked_again() -> None:
    etcd, clock = three(remove=[Refusal("etcdserver: request timed out", applied=True)]), Clock()
    out, _ = change(etcd, removal(cp3()), clock)
    assert out == "" and acts(etcd) == ["refused: etcdserver: request timed out", "remove 3"]
    assert "refused" in acts(etcd)[0] and [m.name for m in etcd.members] == ["cp1", "cp2"]


def test_an_add_that_timed_out_is_not_asked_again() -> None:
    # it may have been proposed: a second add would add a second member for the same host
    etcd, clock = three(add=[Refusal("context deadline exceeded")]), Clock()
    with pytest.raises(ClusterError, match="adding learner cp4 on cp1 failed: context deadline"):
        change(etcd, learner_add("cp4", "https://10.0.0.14:2380"), clock)
    assert clock.sleeps == []


def test_a_learner_is_promoted_once_in_sync_and_an_earlier_promotion_counts() -> None:
    etcd, clock = three(promote=[Refusal(NOT_IN_SYNC)] * 2), Clock()
    etcd.members[2].learner = True
    _, lines = change(etcd, promotion("3", "cp3"), clock)
    assert acts(etcd) == [f"refused: {NOT_IN_SYNC}"] * 2 + ["promote 3"]
    assert not etcd.members[2].learner
    assert lines == ["etcd: waiting for learner cp3 to catch up with the leader (etcd said: "
                     f"{NOT_IN_SYNC}; up to 180s)"]
    # promoted by an earlier run whose answer was lost: etcd says it is no learner
    etcd.refusals["promote"] = [Refusal("etcdserver: can only promote a learner member")]
    assert change(etcd, promotion("3", "cp3"), clock)[0] == ""
