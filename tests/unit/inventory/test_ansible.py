"""Ansible inventories: YAML and INI forms, ansible_* connection variables, their errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kboot.errors import InventoryError
from kboot.inventory import Inventory, JumpHost, load_inventory
from kboot.inventory.ansible_ini import expand_range


def load(tmp_path: Path, text: str, name: str) -> Inventory:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return load_inventory(path)


KUBESPRAY_YAML = """
all:
  vars:
    ansible_user: deploy
    ansible_become: true
    ansible_become_password: "{{ lookup('env', 'SUDO_PW') }}"
  hosts:
    node1: {ansible_host: 10.0.0.1, ip: 10.0.0.1}
    node2: {ansible_host: 10.0.0.2, ansible_port: 2222}
    node3:
      ansible_host: 10.0.0.3
      ansible_ssh_private_key_file: ~/.ssh/k
      ansible_ssh_common_args: '-o ProxyCommand="ssh -W %h:%p -q ops@bastion.example"'
  children:
    kube_control_plane:
      hosts: {node1: null, node2: null}
    etcd:
      children: {kube_control_plane: null}
    kube_node:
      hosts: {node3: {node_var: x}}
      vars: {role: worker}
    k8s_cluster:
      children: {kube_control_plane: null, kube_node: null}
"""


def test_ansible_yaml(tmp_path: Path) -> None:
    inv = load(tmp_path, KUBESPRAY_YAML, "hosts.yaml")
    n1, n2, n3 = (inv.hosts[f"node{i}"] for i in (1, 2, 3))
    assert n1.connection.address == "10.0.0.1"
    assert n1.connection.user == "deploy" and n1.connection.become is True
    assert n1.connection.become_password_env == "SUDO_PW"
    assert n2.connection.port == 2222
    assert n3.connection.key_file == "~/.ssh/k"
    assert n3.connection.jump == (JumpHost("bastion.example", 22, "ops"),)
    assert n3.vars["role"] == "worker" and n3.vars["node_var"] == "x"
    assert set(n1.groups) == {"kube_control_plane", "etcd", "k8s_cluster"}
    assert inv.group_members("k8s_cluster") == ["node1", "node2", "node3"]
    assert inv.vars["ansible_user"] == "deploy"


KUBESPRAY_INI = """
# kubespray-style
[all]
node1 ansible_host=10.0.0.1 ip=10.0.0.1 etcd_member_name=etcd1
node2 ansible_host=10.0.0.2 ansible_port=2201
web[01:03].example ansible_user=web

[kube_control_plane]
node1
node2

[etcd:children]
kube_control_plane

[kube_node]
web[01:03].example
node3:2222 ansible_host=10.0.0.3 ansible_become=yes

[kube_node:vars]
ansible_ssh_common_args=-J ops@192.0.2.1:2200
flag=true

[k8s_cluster:children]
kube_control_plane
kube_node

[all:vars]
ansible_user=root
kboot_host_key_policy=strict
"""


def test_ansible_ini(tmp_path: Path) -> None:
    inv = load(tmp_path, KUBESPRAY_INI, "inventory.ini")
    assert list(inv.hosts) == ["node1", "node2", "web01.example", "web02.example",
                               "web03.example", "node3"]
    n1, n3 = inv.hosts["node1"], inv.hosts["node3"]
    assert n1.connection.user == "root" and n1.connection.host_key_policy == "strict"
    assert n1.vars["etcd_member_name"] == "etcd1"
    assert inv.hosts["node2"].connection.port == 2201
    assert inv.hosts["web02.example"].connection.user == "web"  # host var beats all:vars
    assert n3.connection.port == 2222 and n3.connection.become is True
    assert n3.connection.jump == (JumpHost("192.0.2.1", 2200, "ops"),)
    assert n3.vars["flag"] == "true"  # :vars values are strings, as in Ansible
    assert set(n3.groups) == {"kube_node", "k8s_cluster"}
    assert inv.group_members("etcd") == ["node1", "node2"]


def test_ini_detected_without_extension(tmp_path: Path) -> None:
    inv = load(tmp_path, "[web]\nw1 ansible_host=10.0.0.9\n", "hosts")
    assert inv.hosts["w1"].connection.address == "10.0.0.9"


@pytest.mark.parametrize(("text", "name", "fragments"), [
    ("[web]\nw1 ansible_password=hunter2\n", "inv.ini",
     [":2: w1.ansible_password: plaintext passwords are not read"]),
    ("[web]\nw1 ansible_port=http\n", "inv.ini", [":2: w1.ansible_port: expected a port"]),
    ("[web\nw1\n", "inv.ini", [":1: malformed section header"]),
    ("[web]\nw1 junk\n", "inv.ini", [":2: w1: expected key=value"]),
    ("[web:children]\nmissing\n", "inv.ini",
     [":2: groups.web.children: unknown group 'missing'"]),
    ("[web]\nw1 ansible_connection=winrm\n", "inv.ini", [":2: w1.ansible_connection"]),
    ("all:\n  hostz: {}\n", "inv.yaml", [":2: all.hostz: unknown key 'hostz'",
                                         "did you mean 'hosts'"]),
    ("all:\n  hosts:\n    a: {ansible_become_user: postgres}\n", "inv.yaml",
     [":3: a.ansible_become_user: kboot becomes root through sudo only"]),
])
def test_ansible_errors(tmp_path: Path, text: str, name: str, fragments: list[str]) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(InventoryError) as info:
        load_inventory(tmp_path / name)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(("pattern", "expected"), [
    ("web[1:3]", ["web1", "web2", "web3"]),
    ("db-[a:c].x", ["db-a.x", "db-b.x", "db-c.x"]),
    ("n[08:10]", ["n08", "n09", "n10"]),
    ("r[1:2]c[1:2]", ["r1c1", "r1c2", "r2c1", "r2c2"]),
    ("plain", ["plain"]),
])
def test_expand_range(pattern: str, expected: list[str]) -> None:
    assert expand_range(pattern) == expected


def test_group_vars_and_host_vars_dirs(tmp_path: Path) -> None:
    (tmp_path / "group_vars" / "k8s_cluster").mkdir(parents=True)
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text("ansible_user: deploy\nshared: all\n")
    (tmp_path / "group_vars" / "k8s_cluster" / "k8s-cluster.yml").write_text(
        "kube_version: v1.32.0\nshared: cluster\n")
    (tmp_path / "group_vars" / "unknown_group.yml").write_text("ignored: true\n")
    (tmp_path / "host_vars" / "node2.yaml").write_text("ansible_port: 2202\nshared: host\n")
    inv = load(tmp_path, """
        [k8s_cluster]
        node1 ansible_host=10.0.0.1
        node2 ansible_host=10.0.0.2 shared=inline
        [k8s_cluster:vars]
        shared=inline-group
        """, "inventory.ini")
    n1, n2 = inv.hosts["node1"], inv.hosts["node2"]
    assert n1.connection.user == "deploy"
    assert n1.vars["kube_version"] == "v1.32.0"
    assert n1.vars["shared"] == "cluster"  # group_vars/ file beats the inline group var
    assert n2.vars["shared"] == "host" and n2.connection.port == 2202
    assert "ignored" not in n1.vars


def test_vars_file_errors_name_that_file(tmp_path: Path) -> None:
    (tmp_path / "host_vars").mkdir()
    bad = tmp_path / "host_vars" / "node1.yml"
    bad.write_text("x: 1\nansible_port: seventy\n")
    (tmp_path / "inventory.ini").write_text("node1\n")
    with pytest.raises(InventoryError) as info:
        load_inventory(tmp_path / "inventory.ini")
    assert str(info.value).startswith(f"{bad}:2: node1.ansible_port: expected a port number")
