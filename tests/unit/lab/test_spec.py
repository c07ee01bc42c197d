"""Lab shapes: names, addresses and host-side names derived from a lab name."""

from __future__ import annotations

import pytest

from kboot.errors import ConfigError
from kboot.lab.spec import LabSpec, bridge_name, parse_node_name, veth_prefix


def test_default_lab_is_three_control_planes_and_two_workers() -> None:
    spec = LabSpec()
    assert [(n.name, n.address) for n in spec.nodes] == [
        ("kboot-cp1", "10.77.0.11"), ("kboot-cp2", "10.77.0.12"), ("kboot-cp3", "10.77.0.13"),
        ("kboot-w1", "10.77.0.21"), ("kboot-w2", "10.77.0.22"),
    ]
    assert spec.gateway == "10.77.0.1"
    assert spec.bridge == "kblab-kboot"


@pytest.mark.parametrize(("subnet", "cp1", "w1"), [
    ("10.77.5.0/24", "10.77.5.11", "10.77.5.21"),
    ("192.168.40.64/26", "192.168.40.75", "192.168.40.85"),
])
def test_addresses_follow_the_subnet(subnet: str, cp1: str, w1: str) -> None:
    spec = LabSpec("x", 1, 1, subnet)
    assert [n.address for n in spec.nodes] == [cp1, w1]
    assert all(n.prefixlen == spec.network.prefixlen for n in spec.nodes)


@pytest.mark.parametrize("name", ["a", "kboot", "averyveryverylongname"[:20], "lab42"])
def test_interface_names_fit_linux_limit(name: str) -> None:
    spec = LabSpec(name, 9, 9)
    assert len(spec.bridge) <= 15
    assert all(len(n.host_veth) <= 15 for n in spec.nodes)
    assert len({n.host_veth for n in spec.nodes}) == 18


def test_long_names_get_distinct_hashed_bridges() -> None:
    a, b = bridge_name("labnumberone12"), bridge_name("labnumberone13")
    assert a != b and len(a) <= 15 and len(b) <= 15


def test_veth_prefixes_differ_between_labs() -> None:
    assert veth_prefix("one") != veth_prefix("two")


def test_macs_are_stable_and_distinct() -> None:
    spec = LabSpec("m", 3, 2)
    macs = [n.mac for n in spec.nodes]
    assert len(set(macs)) == 5
    assert macs[0] == "02:6b:0a:4d:00:0b"  # 10.77.0.11
    assert LabSpec("m", 3, 2).nodes[0].mac == macs[0]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "Bad"}, "lab name"),
    ({"name": "has-dash"}, "lab name"),
    ({"control_planes": 10}, "control_planes"),
    ({"workers": -1}, "workers"),
    ({"control_planes": 0, "workers": 0}, "at least one"),
    ({"subnet": "10.77.0.1/24"}, "subnet"),
    ({"subnet": "10.77.0.0/28"}, "/26"),
    ({"subnet": "nonsense"}, "subnet"),
])
def test_invalid_shapes_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LabSpec(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "parsed"), [
    ("kboot-cp1", ("kboot", "control_plane", 1)),
    ("t2-w9", ("t2", "worker", 9)),
    ("kboot-x1", None),
    ("kboot-cp10", None),
    ("kboot-cp", None),
])
def test_parse_node_name(name: str, parsed: object) -> None:
    assert parse_node_name(name) == parsed


def test_node_lookup_by_short_or_full_name() -> None:
    spec = LabSpec("k", 2, 1)
    assert spec.node_by_name("cp2").name == "k-cp2"
    assert spec.node_by_name("k-w1").address == "10.77.0.21"
    with pytest.raises(ConfigError, match="no node 'w5'"):
        spec.node_by_name("w5")
