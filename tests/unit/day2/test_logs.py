"""Component logs: journal JSON parsing, interleaving across hosts, the commands sent."""

from __future__ import annotations

import json

import pytest

from kboot.cluster.logs import (
    NOW_MARK,
    LogLine,
    _Position,
    component_hosts,
    interleave,
    journal_command,
    parse_journal,
)
from kboot.cluster.topology import topology_from_inventory
from kboot.errors import UserError
from kboot.inventory.model import Connection, Group, Host, Inventory


def _entry(ts: int, msg: object, cursor: str) -> str:
    return json.dumps({"__REALTIME_TIMESTAMP": str(ts), "MESSAGE": msg, "__CURSOR": cursor})


def test_parse_journal() -> None:
    text = "\n".join([f"{NOW_MARK}1700000000000000", _entry(5, "started", "c1"),
                      _entry(7, [104, 105, 255], "c2"), "not json", "{}"])
    lines, now = parse_journal("cp1", text)
    assert now == 1700000000000000
    assert [(ln.time_us, ln.message, ln.cursor) for ln in lines] == [
        (5, "started", "c1"), (7, "hi\ufffd", "c2")]
    assert all(ln.host == "cp1" for ln in lines)


def test_interleave_orders_by_time_then_host() -> None:
    a = [LogLine(1, "cp1", "a1"), LogLine(5, "cp1", "a5")]
    b = [LogLine(3, "w1", "b3"), LogLine(5, "w1", "b5")]
    c = [LogLine(5, "cp0", "c5")]
    assert [ln.message for ln in interleave([a, b, c])] == ["a1", "b3", "c5", "a5", "b5"]


@pytest.mark.parametrize(("kwargs", "present", "absent"), [
    ({"tail": 10, "since": None}, ["-n 10"], ["--since", "--after-cursor"]),
    ({"tail": None, "since": "-600s"}, ["--since=-600s"], ["-n "]),
    ({"tail": 10, "since": None, "position": _Position(cursor="s=1;i=2")},
     ["'--after-cursor=s=1;i=2'"], ["-n 10"]),
    ({"tail": 10, "since": None, "position": _Position(since_us=1_700_000_000_500_000)},
     ["--since=@1700000000"], ["-n 10"]),
])
def test_journal_command(kwargs: dict[str, object], present: list[str],
                         absent: list[str]) -> None:
    cmd = journal_command("kboot-kubelet", **kwargs)  # type: ignore[arg-type]
    assert cmd.startswith(f"echo {NOW_MARK}") and "-u kboot-kubelet.service" in cmd
    for word in present:
        assert word in cmd
    for word in absent:
        assert word not in cmd


def _inventory() -> Inventory:
    hosts = {n: Host(n, Connection(address=f"10.0.0.{i}"), groups=(g,))
             for i, (n, g) in enumerate([("cp1", "control_plane"), ("w1", "workers"),
                                         ("w2", "workers")], start=1)}
    groups = {"control_plane": Group("control_plane", hosts=("cp1",)),
              "workers": Group("workers", hosts=("w1", "w2"))}
    return Inventory(hosts=hosts, groups=groups, source="inv.yaml")


@pytest.mark.parametrize(("component", "pattern", "hosts"), [
    ("apiserver", None, ["cp1"]), ("etcd", None, ["cp1"]), ("kubelet", None, ["cp1", "w1", "w2"]),
    ("kubelet", "w*", ["w1", "w2"]), ("ingress", None, ["w1", "w2"]),
    ("proxy", "workers", ["w1", "w2"]),
])
def test_component_hosts(component: str, pattern: str | None, hosts: list[str]) -> None:
    inv = _inventory()
    assert component_hosts(topology_from_inventory(inv), inv, component, pattern) == hosts


def test_component_hosts_errors() -> None:
    inv = _inventory()
    topo = topology_from_inventory(inv)
    with pytest.raises(UserError, match="unknown component"):
        component_hosts(topo, inv, "kube-foo", None)
    with pytest.raises(UserError, match="no host runs apiserver"):
        component_hosts(topo, inv, "apiserver", "w1")
