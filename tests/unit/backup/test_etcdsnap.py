from __future__ import annotations

import shlex

import pytest

from kboot.cluster.etcdsnap import (
    CONTROL_PLANE_GROUP,
    ETCD_GROUP,
    host_data_dir,
    initial_cluster,
    ops_inventory,
    restore_token,
    snapshot_restore_command,
    snapshot_save_command,
)
from kboot.cluster.topology import topology_from_inventory
from kboot.cluster.vars import NODES_GROUP
from tests.unit.backup.conftest import make_inventory


def test_initial_cluster_matches_the_units_names_and_peer_urls() -> None:
    topo = topology_from_inventory(make_inventory(3, 1))
    assert initial_cluster(topo.etcd_members) == (
        "cp1=https://10.0.0.11:2380,cp2=https://10.0.0.12:2380,cp3=https://10.0.0.13:2380")


def test_restore_command_for_one_member() -> None:
    topo = topology_from_inventory(make_inventory(3, 1))
    cmd = snapshot_restore_command("/var/lib/kboot/restore/etcd.db", node=topo.node("cp2"),
                                   members=topo.etcd_members, token="prod-restore-1",
                                   data_dir="/var/lib/kboot/etcd.restore")
    assert shlex.split(cmd) == [
        "ETCDCTL_API=3", "etcdctl", "snapshot", "restore", "/var/lib/kboot/restore/etcd.db",
        "--name=cp2",
        "--initial-cluster=cp1=https://10.0.0.11:2380,cp2=https://10.0.0.12:2380,"
        "cp3=https://10.0.0.13:2380",
        "--initial-advertise-peer-urls=https://10.0.0.12:2380",
        "--initial-cluster-token=prod-restore-1", "--data-dir=/var/lib/kboot/etcd.restore"]


def test_restore_command_refuses_a_non_member() -> None:
    topo = topology_from_inventory(make_inventory(1, 1))
    with pytest.raises(ValueError, match="w1 is not an etcd member"):
        snapshot_restore_command("s.db", node=topo.node("w1"), members=topo.etcd_members,
                                 token="t", data_dir="/d")


def test_snapshot_save_uses_the_members_client_certificates() -> None:
    cmd = snapshot_save_command("/var/lib/kboot/backup/etcd.db")
    assert cmd.startswith("ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 ")
    assert "--cert=/etc/kboot/pki/etcd/server.crt --key=/etc/kboot/pki/etcd/server.key" in cmd
    assert cmd.endswith(" snapshot save /var/lib/kboot/backup/etcd.db")


def test_restore_token_is_new_per_run_and_names_the_cluster() -> None:
    assert restore_token("prod", "20260101") == "prod-restore-20260101"
    assert restore_token("prod", "20260101") != restore_token("prod", "20260102")


def test_ops_inventory_groups_and_variable_precedence() -> None:
    inv = make_inventory(1, 1, host_vars={"cp1": {"etcd_data_dir": "/srv/etcd",
                                                  "node_ip": "user-set"}})
    topo = topology_from_inventory(inv)
    out = ops_inventory(inv, topo, defaults={"etcd_data_dir": "/var/lib/kboot/etcd", "a": 1},
                        per_host={"cp1": {"a": 2}}, groups={"extra": ["w1"]})
    assert out.groups[NODES_GROUP].hosts == ("cp1", "w1")
    assert out.groups[ETCD_GROUP].hosts == ("cp1",)
    assert out.groups[CONTROL_PLANE_GROUP].hosts == ("cp1",)
    assert out.groups["extra"].hosts == ("w1",)
    cp1 = out.hosts["cp1"].vars
    assert cp1["etcd_data_dir"] == "/srv/etcd"  # the inventory's own beats the defaults
    assert cp1["node_ip"] == "10.0.0.11"  # computed beats the inventory's
    assert cp1["a"] == 2
    assert out.hosts["w1"].vars["a"] == 1
    assert host_data_dir(inv, topo.node("cp1")) == "/srv/etcd"
    assert host_data_dir(inv, topo.node("w1")) == "/var/lib/kboot/etcd"
