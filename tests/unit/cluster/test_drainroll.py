"""roll_workers() over the fake API and a fake playbook runner: the order of cordon, drain,
restart, Ready and uncordon per worker, disruption budgets retried, an operator's cordon kept,
a crashed run's mark uncordoned by the next, a drain timeout, and the settings."""

from __future__ import annotations

import io
import json
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from kboot.cli.commands.up import _print_plan
from kboot.cluster.drain import CORDONED_BY
from kboot.cluster.drainroll import (
    DrainSettings,
    WorkerTurn,
    drain_settings,
    roll_workers,
    rolling_hosts,
)
from kboot.cluster.rollout import RestartStep, restart_plan
from kboot.cluster.topology import topology_from_inventory
from kboot.cluster.up import PhaseOutcome
from kboot.controlplane.client.fake import FakeClient
from kboot.errors import ClusterError, InventoryError
from kboot.inventory import Inventory, load_inventory
from tests.unit.cluster.test_removenode import Budgeted, World, inventory, make_world, pod

KUBELET = frozenset({"kboot-kubelet", "kboot-proxy", "kboot-dns"})


class Roll:
    """A world whose kubelet restarts post a new Ready heartbeat, with the pending restarts of
    each host and a record of hooks and progress in the same log as the API writes."""

    def __init__(self, world: World, pending: dict[str, frozenset[str]]) -> None:
        self.world, self.pending = world, pending
        self.beats = 0
        self.restarted: set[str] = set()  # their new kubelets post a heartbeat per sleep
        for name in ("cp1", "e1", "e2", "w1", "w2"):
            self._beat(name)

    def _beat(self, name: str) -> None:
        self.beats += 1
        body = {"status": {"conditions": [
            {"type": "Ready", "status": "True",
             "lastHeartbeatTime": f"2026-12-07T19:00:{self.beats:02d}Z"}]}}
        self.world.api.run(lambda c: c.patch("nodes", name, body, subresource="status"))

    def read(self, hosts: Collection[str]) -> Mapping[str, frozenset[str]]:
        self.world.log.append(("read", "pending", ",".join(hosts)))
        return {h: self.pending.get(h, frozenset()) for h in hosts}

    def runner(self, playbook: Path, inv: Inventory, *, phase: str) -> PhaseOutcome:
        assert playbook.is_file(), playbook
        (host,) = inv.groups["kboot_rolling"].hosts
        self.world.log.append(("run", playbook.name, host))
        if "kboot-kubelet" in self.pending.get(host, ()):
            self._beat(host)
            self.restarted.add(host)
        self.pending.pop(host, None)
        return PhaseOutcome(ok=True, changed=1)

    def sleep(self, seconds: float) -> None:
        self.world.sleep(seconds)
        for host in self.restarted:
            self._beat(host)

    def hook(self, event: str, node: str) -> None:
        self.world.log.append(("hook", event, node))

    def roll(self, settings: DrainSettings | None = None, **kw: Any) -> list[WorkerTurn]:
        inv = inventory()
        return roll_workers(inv, topology_from_inventory(inv), api=self.world.api,
                            runner=self.runner, pending=self.read,
                            settings=settings or DrainSettings(),
                            hook=self.hook, clock=self.world.clock, sleep=self.sleep,
                            **kw)

    def steps(self) -> list[tuple[str, str, str]]:
        """API writes on nodes, evictions, playbook runs and hooks (not status heartbeats)."""
        return [a for a in self.world.log if a[0] in ("run", "hook", "create/eviction",
                                                      "refused/eviction")
                or (a[:2] == ("patch", "nodes"))]


def _roll(fake: FakeClient | None = None, **pending: frozenset[str]) -> Iterator[Roll]:
    for world in make_world(fake):
        roll = Roll(world, dict(pending))
        world.fake.actions.clear()
        yield roll


@pytest.fixture
def roll() -> Iterator[Roll]:
    yield from _roll(e1=KUBELET, e2=KUBELET, w1=KUBELET, w2=KUBELET)


def node(roll: Roll, name: str) -> dict[str, Any]:
    return roll.world.api.get("nodes", name)


def test_each_worker_drained_restarted_ready_then_uncordoned_one_at_a_time(roll: Roll) -> None:
    for p in (pod("web-1", "w1"), pod("web-2", "w2"),
              pod("dns-w1", "w1", owner="DaemonSet", ns="kube-system")):
        roll.world.fake.seed("pods", p)
    turns = roll.roll()
    per_node = []
    for name in ("e1", "e2", "w1", "w2"):
        per_node += [("hook", "before_drain", name), ("patch", "nodes", name),
                     *([("create/eviction", "pods", f"default/web-{name[1]}")]
                       if name.startswith("w") else []),
                     ("hook", "after_drain", name), ("run", "restart-node.yaml", name),
                     ("hook", "before_uncordon", name), ("patch", "nodes", name),
                     ("hook", "after_uncordon", name)]
    assert roll.steps() == per_node  # control planes are not this step's; etcd-only first
    assert roll.world.log[0] == ("read", "pending", "e1,e2,w1,w2")
    for name in ("e1", "e2", "w1", "w2"):
        n = node(roll, name)
        assert not n["spec"].get("unschedulable")
        assert CORDONED_BY not in (n["metadata"].get("annotations") or {})
    assert [p["metadata"]["name"] for p in roll.world.api.list("pods")] == ["dns-w1"]
    assert [t.host for t in turns] == ["e1", "e2", "w1", "w2"]
    assert turns[2].drained.evicted == ("default/web-1",)


def test_a_node_is_cordoned_and_marked_before_its_drain() -> None:
    for roll in _roll(w1=KUBELET):
        roll.world.fake.seed("pods", pod("web-1", "w1"))
        roll.world.kubelet = False  # the pod never goes: the drain times out
        with pytest.raises(ClusterError) as err:
            roll.roll(DrainSettings(timeout=5))
        assert str(err.value) == ("drain timed out after 5s: still terminating on w1: "
                                  "default/web-1; the node stays cordoned")
        n = node(roll, "w1")
        assert n["spec"]["unschedulable"] is True
        assert n["metadata"]["annotations"][CORDONED_BY] == "up"
        assert ("run", "restart-node.yaml", "w1") not in roll.steps()  # not restarted
        assert ("hook", "after_drain", "w1") not in roll.steps()


def test_a_budget_refusal_is_retried_and_told() -> None:
    for roll in _roll(Budgeted({"web-1": 2}), w1=KUBELET):
        roll.world.fake.seed("pods", pod("web-1", "w1"))
        told: list[tuple[str, str]] = []
        roll.roll(on_refused=lambda p, why, told=told: told.append((p, why)))
        assert told == [("default/web-1", "The disruption budget web needs 2 healthy pods and "
                                          "has 2 currently")]
        evictions = [a[0] for a in roll.steps() if a[0].endswith("/eviction")]
        assert evictions == ["refused/eviction", "refused/eviction", "create/eviction"]
        assert not node(roll, "w1")["spec"].get("unschedulable")


def test_a_budget_that_never_allows_it_stops_the_run_naming_the_budget() -> None:
    for roll in _roll(Budgeted({"web-1": 1000}), w1=KUBELET, w2=KUBELET):
        roll.world.fake.seed("pods", pod("web-1", "w1"))
        with pytest.raises(ClusterError) as err:
            roll.roll(DrainSettings(timeout=12))
        assert "eviction still refused for default/web-1 (The disruption budget web needs 2" \
            in str(err.value)
        assert all(a[2] != "w2" for a in roll.steps())  # the next worker untouched
        assert node(roll, "w1")["metadata"]["annotations"][CORDONED_BY] == "up"


def test_a_node_the_operator_cordoned_is_drained_and_restarted_but_stays_cordoned() -> None:
    for roll in _roll(w1=KUBELET):
        roll.world.api.patch("nodes", "w1", {"spec": {"unschedulable": True}})
        roll.world.fake.seed("pods", pod("web-1", "w1"))
        (turn,) = roll.roll()
        assert turn.kept_cordoned and not turn.uncordoned
        n = node(roll, "w1")
        assert n["spec"]["unschedulable"] is True
        assert CORDONED_BY not in (n["metadata"].get("annotations") or {})
        assert ("run", "restart-node.yaml", "w1") in roll.steps()
        assert roll.world.api.list("pods") == []  # drained all the same


def test_a_rerun_after_a_crash_uncordons_the_node_it_marked() -> None:
    for roll in _roll():  # the crashed run's restart was done; nothing pending now
        roll.world.api.patch("nodes", "w2", {"spec": {"unschedulable": True}, "metadata": {
            "annotations": {CORDONED_BY: "up"}}})
        roll.world.api.patch("nodes", "w1", {"spec": {"unschedulable": True}})  # operator's
        roll.world.fake.actions.clear()
        (turn,) = roll.roll()
        assert (turn.host, turn.uncordoned, turn.restarted) == ("w2", True, ())
        assert roll.steps() == [("hook", "before_uncordon", "w2"), ("patch", "nodes", "w2"),
                                ("hook", "after_uncordon", "w2")]
        assert not node(roll, "w2")["spec"]["unschedulable"]
        assert node(roll, "w1")["spec"]["unschedulable"] is True


def test_a_rerun_with_the_restart_still_pending_drains_the_marked_node_again() -> None:
    for roll in _roll(w1=KUBELET):
        roll.world.api.patch("nodes", "w1", {"spec": {"unschedulable": True}, "metadata": {
            "annotations": {CORDONED_BY: "up"}}})
        roll.world.fake.seed("pods", pod("late", "w1"))
        (turn,) = roll.roll()
        assert turn.drained.evicted == ("default/late",)
        assert turn.uncordoned and not turn.kept_cordoned
        assert CORDONED_BY not in (node(roll, "w1")["metadata"].get("annotations") or {})


def test_without_drain_only_marked_nodes_are_uncordoned(roll: Roll) -> None:
    roll.world.fake.seed("pods", pod("web-1", "w1"))
    assert roll.roll(DrainSettings(drain=False)) == []
    assert roll.steps() == [] and ("read", "pending", "") not in roll.world.log
    assert len(roll.world.api.list("pods")) == 1


def test_waits_for_a_heartbeat_of_the_restarted_kubelet() -> None:
    for roll in _roll(w1=KUBELET):
        roll.runner = lambda playbook, inv, *, phase: PhaseOutcome(ok=True)  # type: ignore[method-assign]
        with pytest.raises(ClusterError) as err:  # no new heartbeat: the old one is stale
            roll.roll(DrainSettings(timeout=3))
        assert "w1 was not Ready again within 3s" in str(err.value)
        assert node(roll, "w1")["spec"]["unschedulable"] is True


def test_limit_leaves_other_workers_alone(roll: Roll) -> None:
    roll.roll(only=["w2"])
    assert {a[2] for a in roll.steps()} == {"w2"}


def test_settings_rolling_group_and_the_plan() -> None:
    inv = inventory()
    topo = topology_from_inventory(inv)
    assert drain_settings(inv) == DrainSettings(True, 300.0)
    upgrade = {**inv.cluster, "upgrade": {"drain": True, "drain_timeout": 60.0}}
    custom = Inventory(inv.source, inv.hosts, inv.groups, cluster=upgrade)
    assert drain_settings(custom) == DrainSettings(True, 60.0)
    assert drain_settings(custom, no_drain=True) == DrainSettings(False, 60.0)
    assert rolling_hosts(topo, DrainSettings()) == ("cp1",)
    assert rolling_hosts(topo, DrainSettings(drain=False)) == ("cp1", "e1", "e2", "w1", "w2")
    changed = [(h, "kboot code changed", "") for h in ("cp1", "e1", "w1")]
    plan = restart_plan(topo, changed, drain=True)
    assert [(s.host, s.drain) for s in plan] == [("cp1", False), ("e1", True), ("w1", True)]
    assert plan[2].waits_for == ("node Ready",)
    assert not any(s.drain for s in restart_plan(topo, changed))




UPGRADE_INVENTORY = """\
cluster:
  name: up
  upgrade:
{upgrade}
hosts:
  cp1: {{address: 127.0.0.1}}
groups:
  control_plane: {{hosts: [cp1]}}
"""


def test_upgrade_settings_are_read_and_mistakes_name_file_line_and_field(
        tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(UPGRADE_INVENTORY.format(upgrade="    drain: false\n    drain_timeout: 90"))
    assert drain_settings(load_inventory(str(path))) == DrainSettings(False, 90.0)
    path.write_text(UPGRADE_INVENTORY.format(
        upgrade="    drain: maybe\n    drain_timeout: -5\n    drian: true"))
    with pytest.raises(InventoryError) as err:
        load_inventory(str(path))
    text = str(err.value)
    assert f"{path}:4" in text and "cluster.upgrade.drain" in text and "true or false" in text
    assert f"{path}:5" in text and "cluster.upgrade.drain_timeout" in text and "> 0" in text
    assert f"{path}:6" in text and "cluster.upgrade.drian" in text and "'drain'" in text
    path.write_text(UPGRADE_INVENTORY.format(upgrade="    [drain]"))
    with pytest.raises(InventoryError) as err:
        load_inventory(str(path))
    assert "cluster.upgrade" in str(err.value) and "expected a mapping" in str(err.value)


def test_check_prints_which_nodes_are_drained() -> None:
    plan = [RestartStep("cp1", ("kboot-apiserver", "kboot-kubelet"), ("new kboot code",)),
            RestartStep("w1", ("kboot-kubelet",), ("new kboot code",), drain=True)]
    out = io.StringIO()
    _print_plan(Console(file=out, width=200), plan, "json")
    (event,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(s["host"], s["drain"], s["waits_for"]) for s in event["steps"]] == [
        ("cp1", False, ["apiserver /readyz"]), ("w1", True, ["node Ready"])]
    out = io.StringIO()
    _print_plan(Console(file=out, width=200), plan, "text")
    rows = [line for line in out.getvalue().splitlines() if " w1 " in line or " cp1 " in line]
    assert "cordon, drain" in rows[1] and "node Ready, uncordon" in rows[1], rows
    assert "cordon" not in rows[0], rows


def test_progress_names_each_step_and_the_evicted_pods() -> None:
    for roll in _roll(w1=KUBELET):
        roll.world.fake.seed("pods", pod("web-1", "w1"))
        said: list[tuple[str, str, str]] = []
        roll.roll(progress=lambda node, step, detail, said=said: said.append((node, step, detail)))
        assert said == [("w1", "drain", "cordoned"), ("w1", "drained", "default/web-1"),
                        ("w1", "restart", "kboot-dns kboot-kubelet kboot-proxy"),
                        ("w1", "ready", ""), ("w1", "uncordon", "")]
