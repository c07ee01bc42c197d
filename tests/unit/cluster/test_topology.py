from __future__ import annotations

import pytest

from kboot.cluster.topology import topology_from_inventory
from kboot.errors import InventoryError
from kboot.inventory import Connection, Group, Host, Inventory


def _inv(cps: int, workers: int, *, etcd: int | None = None, cluster: dict | None = None,
         internal: dict[str, str] | None = None) -> Inventory:
    hosts = {}
    for i in range(1, cps + 1):
        hosts[f"cp{i}"] = Host(f"cp{i}", Connection(address=f"10.0.0.{10 + i}"))
    for i in range(1, workers + 1):
        hosts[f"w{i}"] = Host(f"w{i}", Connection(address=f"10.0.0.{20 + i}"),
                              vars={"internal_address": (internal or {}).get(f"w{i}")}
                              if internal and f"w{i}" in internal else {})
    cp_names = tuple(h for h in hosts if h.startswith("cp"))
    groups = {
        "control_plane": Group("control_plane", hosts=cp_names),
        "workers": Group("workers", hosts=tuple(h for h in hosts if h.startswith("w"))),
    }
    if etcd is not None:
        groups["etcd"] = Group("etcd", hosts=cp_names[:etcd])
    return Inventory("inv.yaml", hosts, groups, cluster=cluster or {"name": "t"})


def test_roles_addresses_and_derived_ips() -> None:
    topo = topology_from_inventory(_inv(3, 2, internal={"w2": "192.168.9.2"}))
    assert [n.name for n in topo.control_planes] == ["cp1", "cp2", "cp3"]
    assert [n.name for n in topo.etcd_members] == ["cp1", "cp2", "cp3"]  # default: the CPs
    assert [n.name for n in topo.workers] == ["w1", "w2"]
    assert topo.node("w2").ip == "192.168.9.2"  # internal_address wins over the SSH address
    assert topo.kubernetes_service_ip == "10.96.0.1"
    assert topo.dns_service_ip == "10.96.0.10"
    assert topo.api_server_url == "https://10.0.0.11:6443"
    assert not topo.schedulable_control_plane


def test_vip_and_networks_from_cluster_section() -> None:
    topo = topology_from_inventory(_inv(1, 1, cluster={
        "name": "p", "api_vip": "10.0.0.100", "service_cidr": "10.32.0.0/24"}))
    assert topo.api_server_url == "https://10.0.0.100:6443"
    assert topo.dns_service_ip == "10.32.0.10"


def test_control_plane_only_cluster_is_schedulable() -> None:
    topo = topology_from_inventory(_inv(1, 0))
    assert topo.schedulable_control_plane
    assert [n.name for n in topo.workers] == ["cp1"]


@pytest.mark.parametrize(
    ("inv", "message"),
    [
        (_inv(0, 2), "group control_plane: expected at least one host"),
        (_inv(1, 1, cluster={"name": "x", "pod_cidr": "10.244.0.1/16"}), "cluster.pod_cidr"),
        (_inv(1, 0, cluster={"name": "x", "schedulable_control_plane": False}),
         "expected at least one worker or a schedulable control plane"),
        (_inv(3, 1, cluster={"name": "x", "datastore": "sqlite"}),
         "expected one control plane, got 3 (use etcd for HA)"),
        (_inv(1, 1, etcd=1, cluster={"name": "x", "datastore": "sqlite"}),
         "group etcd: expected no members with cluster.datastore sqlite"),
    ],
)
def test_unusable_layouts_are_named(inv: Inventory, message: str) -> None:
    with pytest.raises(InventoryError, match=r"inv\.yaml") as err:
        topology_from_inventory(inv)
    assert message in str(err.value)


def test_embedded_store_has_no_etcd_members_and_an_sqlite_url() -> None:
    from kboot.cluster.vars import storage_url
    topo = topology_from_inventory(_inv(1, 2, cluster={"name": "t", "datastore": "sqlite"}))
    assert topo.datastore == "sqlite" and topo.etcd_members == ()
    assert storage_url(topo) == "sqlite:///var/lib/kboot/store/kboot.db"
    etcd = topology_from_inventory(_inv(3, 1))
    assert storage_url(etcd).startswith("etcd://10.0.0.11:2379,10.0.0.12:2379,10.0.0.13:2379?")


def test_role_groups_come_from_the_topology(tmp_path: object) -> None:
    from pathlib import Path

    from kboot.cluster.pki import ensure_pki
    from kboot.cluster.vars import CONTROL_PLANE_GROUP, ETCD_GROUP, cluster_inventory
    inv = _inv(3, 1)  # no etcd group in the inventory: the control planes are the members
    topo = topology_from_inventory(inv)
    cinv = cluster_inventory(inv, topo, ensure_pki(Path(str(tmp_path)), topo), {})
    assert cinv.group_members(ETCD_GROUP) == ["cp1", "cp2", "cp3"]
    assert cinv.group_members(CONTROL_PLANE_GROUP) == ["cp1", "cp2", "cp3"]
    lite = _inv(1, 1, cluster={"name": "t", "datastore": "sqlite"})
    ltopo = topology_from_inventory(lite)
    lcinv = cluster_inventory(lite, ltopo, ensure_pki(Path(str(tmp_path)) / "l", ltopo), {})
    assert lcinv.group_members(ETCD_GROUP) == []


def test_package_source_defaults_to_the_bundle() -> None:
    assert topology_from_inventory(_inv(1, 1)).package_source == "bundle"
    topo = topology_from_inventory(_inv(1, 1, cluster={"name": "t", "package_source": "host"}))
    assert topo.package_source == "host"
