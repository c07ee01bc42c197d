"""Variable precedence, group membership, connection defaults, jump chains (kboot format)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from kboot.inventory import Inventory, JumpHost, load_inventory


def load(tmp_path: Path, text: str) -> Inventory:
    path = tmp_path / "inv.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return load_inventory(path)


PRECEDENCE = """
vars: {v_all: all, v_group: all, v_child: all, v_host: all, v_peer: all}
hosts:
  h1:
    vars: {v_host: host}
  h2: {}
groups:
  parent:
    children: [child]
    vars: {v_group: parent, v_child: parent}
  child:
    hosts: [h1]
    vars: {v_child: child}
  alpha:
    hosts: [h1]
    vars: {v_peer: alpha}
  beta:
    hosts: [h1]
    vars: {v_peer: beta}
"""


def test_precedence_all_then_parents_then_children_then_host(tmp_path: Path) -> None:
    inv = load(tmp_path, PRECEDENCE)
    v = inv.hosts["h1"].vars
    assert v["v_all"] == "all"
    assert v["v_group"] == "parent"
    assert v["v_child"] == "child"  # deeper group wins over its parent
    assert v["v_host"] == "host"
    assert v["v_peer"] == "beta"  # same depth: alphabetical, later wins
    assert inv.hosts["h2"].vars == {"v_all": "all", "v_group": "all", "v_child": "all",
                                    "v_host": "all", "v_peer": "all"}


def test_groups_include_ancestors(tmp_path: Path) -> None:
    inv = load(tmp_path, PRECEDENCE)
    assert inv.hosts["h1"].groups == ("alpha", "beta", "child", "parent")
    assert inv.hosts["h2"].groups == ()
    assert inv.group_members("parent") == ["h1"]


def test_connection_defaults_and_host_overrides(tmp_path: Path) -> None:
    inv = load(tmp_path, """
        connection: {user: deploy, port: 2222, become: true, ssh_config: true}
        hosts:
          a: {address: 10.0.0.1}
          b: {address: 10.0.0.2, user: admin, port: 22, labels: {zone: a}, taints: [x=y:NoSchedule]}
          c: {}
        """)
    a, b, c = (inv.hosts[n].connection for n in "abc")
    assert (a.user, a.port, a.become, a.ssh_config) == ("deploy", 2222, True, "~/.ssh/config")
    assert (b.user, b.port) == ("admin", 22)
    assert c.address == "c"  # the name is the address when none is given
    assert inv.hosts["b"].labels == {"zone": "a"}
    assert inv.hosts["b"].taints == ("x=y:NoSchedule",)


def test_jump_chains_strings_mappings_and_host_names(tmp_path: Path) -> None:
    inv = load(tmp_path, """
        hosts:
          bastion: {address: 192.0.2.1, user: ops, port: 2200}
          inner: {address: 10.1.0.1, jump: [bastion]}
          deep: {address: 10.2.0.1, jump: [inner, "root@[2001:db8::1]:22"]}
          m: {address: 10.3.0.1, jump: [{address: 192.0.2.9, user: u, key_file: /k}]}
          s: {address: 10.4.0.1, jump: "a@b:23,c"}
        """)
    bastion = JumpHost("192.0.2.1", 2200, "ops", None)
    assert inv.hosts["inner"].connection.jump == (bastion,)
    assert inv.hosts["deep"].connection.jump == (
        bastion, JumpHost("10.1.0.1", 22, None, None), JumpHost("2001:db8::1", 22, "root"))
    assert inv.hosts["m"].connection.jump == (JumpHost("192.0.2.9", 22, "u", "/k"),)
    assert inv.hosts["s"].connection.jump == (JumpHost("b", 23, "a"), JumpHost("c"))


def test_same_address_behind_different_bastions_is_not_a_duplicate(tmp_path: Path) -> None:
    inv = load(tmp_path, """
        hosts:
          x: {address: 10.0.0.5, jump: ["b1"]}
          y: {address: 10.0.0.5, jump: ["b2"]}
        """)
    assert len(inv.hosts) == 2


def test_cluster_section(tmp_path: Path) -> None:
    inv = load(tmp_path, """
        cluster: {name: c, pod_cidr: 10.244.0.0/16, api_vip: 10.0.0.100, custom: {a: 1}}
        hosts: {a: {}}
        """)
    assert inv.cluster == {"name": "c", "pod_cidr": "10.244.0.0/16", "api_vip": "10.0.0.100",
                           "custom": {"a": 1}}


def test_example_inventory_loads() -> None:
    inv = load_inventory("inventories/example.yaml",
                         require_groups=["control_plane", "etcd", "workers"])
    assert inv.group_members("etcd") == ["cp1", "cp2", "cp3"]
    assert inv.hosts["w1"].connection.address == "10.0.0.21"


def test_with_and_without_host(tmp_path: Path) -> None:
    from kboot.inventory import Connection, Host

    inv = load(tmp_path, PRECEDENCE)
    new = Host("h3", Connection(address="10.0.0.3"), groups=("child", "parent"))
    grown = inv.with_host(new, groups=["child", "extra"])
    assert list(grown.hosts) == ["h1", "h2", "h3"]
    assert grown.group_members("parent") == ["h1", "h3"]
    assert grown.groups["extra"].hosts == ("h3",)
    assert "h3" not in inv.hosts  # the original is unchanged
    shrunk = grown.without_host("h1")
    assert list(shrunk.hosts) == ["h2", "h3"]
    assert shrunk.group_members("parent") == ["h3"]
    assert shrunk.groups["alpha"].hosts == ()
