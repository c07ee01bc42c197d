"""What the backup and restore playbooks run against etcd, computed once in Python.

etcd's restore is unforgiving: every member must be restored from the same snapshot with the
same ``--initial-cluster`` and a *new* ``--initial-cluster-token`` (a restored cluster is a new
cluster; its members get new IDs), and each member's ``--name`` and peer URL must be the ones its
unit runs with (``--name={{ inventory_hostname }}``, ``https://<node ip>:2380``, see
``templates/etcd``). So the command lines are built here, per host, from the topology, tested
as data, and handed to the playbooks as host variables.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from kboot.cluster.pki import HOST_CONFIG_DIR, HOST_PKI_DIR
from kboot.cluster.topology import Node, Topology
from kboot.cluster.vars import (
    CONTROL_PLANE_GROUP,
    ETCD_DATA_DIR,
    ETCD_GROUP,
    NODES_GROUP,
    SQLITE_DIR,
    SQLITE_GROUP,
)
from kboot.inventory import Group, Host, Inventory

HOST_BACKUP_DIR = "/var/lib/kboot/backup"  # where the snapshot is saved before it is fetched
HOST_RESTORE_DIR = "/var/lib/kboot/restore"  # where the snapshot is pushed before a restore


def etcdctl(pki_dir: str = HOST_PKI_DIR) -> str:
    """``etcdctl`` against the local member with the member's own certificates (as ``kboot
    status`` and the ``up`` health wait use them)."""
    p = f"{pki_dir}/etcd"
    return (f"ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert={p}/ca.crt "
            f"--cert={p}/server.crt --key={p}/server.key")


def snapshot_save_command(path: str, *, pki_dir: str = HOST_PKI_DIR) -> str:
    """A consistent snapshot of the whole keyspace (etcd writes ``path.part`` and renames it)."""
    return f"{etcdctl(pki_dir)} snapshot save {shlex.quote(path)}"


def peer_url(node: Node) -> str:
    return f"https://{node.ip}:2380"


def initial_cluster(members: Sequence[Node]) -> str:
    """``name=peer-url,…`` for every member, in inventory order (as ``kboot up`` renders it)."""
    return ",".join(f"{n.name}={peer_url(n)}" for n in members)


def restore_token(cluster: str, stamp: str) -> str:
    """A fresh ``--initial-cluster-token`` per restore run, the same on every member."""
    return f"{cluster}-restore-{stamp}"


def snapshot_restore_command(snapshot: str, *, node: Node, members: Sequence[Node], token: str,
                             data_dir: str) -> str:
    """Restore ``snapshot`` into the empty directory ``data_dir`` for member ``node``."""
    if node not in members:
        raise ValueError(f"{node.name} is not an etcd member")
    args = ["snapshot", "restore", snapshot, f"--name={node.name}",
            f"--initial-cluster={initial_cluster(members)}",
            f"--initial-advertise-peer-urls={peer_url(node)}",
            f"--initial-cluster-token={token}", f"--data-dir={data_dir}"]
    return "ETCDCTL_API=3 etcdctl " + " ".join(shlex.quote(a) for a in args)


def base_vars() -> dict[str, Any]:
    return {"pki_dir": HOST_PKI_DIR, "config_dir": HOST_CONFIG_DIR,
            "etcd_data_dir": ETCD_DATA_DIR, "etcd_wait_seconds": 90, "sqlite_dir": SQLITE_DIR,
            "apiserver_wait_seconds": 90, "backup_dir": HOST_BACKUP_DIR,
            "restore_dir": HOST_RESTORE_DIR}


def ops_inventory(inv: Inventory, topo: Topology, *, defaults: Mapping[str, Any],
                  per_host: Mapping[str, Mapping[str, Any]] | None = None,
                  groups: Mapping[str, Sequence[str]] | None = None) -> Inventory:
    """``inv`` with the groups the day-2 playbooks address (every node, the etcd members, the
    control planes, the holder of the embedded store — empty unless ``cluster.datastore`` is
    sqlite —, plus ``groups``) and variables: ``defaults`` below the inventory's own,
    ``node_ip`` and ``per_host`` above (as ``kboot up`` layers them)."""
    hosts = dict(inv.hosts)
    for node in topo.nodes:
        h = hosts[node.name]
        extra = {"node_ip": node.ip, **(per_host or {}).get(node.name, {})}
        hosts[node.name] = dataclasses.replace(h, vars={**defaults, **h.vars, **extra})
    wanted = {NODES_GROUP: [n.name for n in topo.nodes],
              ETCD_GROUP: [n.name for n in topo.etcd_members],
              CONTROL_PLANE_GROUP: [n.name for n in topo.control_planes],
              SQLITE_GROUP: [n.name for n in topo.control_planes
                             if topo.datastore == "sqlite"],
              **(groups or {})}
    new_groups = {**inv.groups, **{g: Group(g, hosts=tuple(m)) for g, m in wanted.items()}}
    return dataclasses.replace(inv, hosts=hosts, groups=new_groups)


def host_data_dir(inv: Inventory, node: Node) -> str:
    """The member's data dir: the inventory may override ``etcd_data_dir`` (as for ``up``)."""
    host: Host = inv.hosts[node.name]
    return str(host.vars.get("etcd_data_dir") or ETCD_DATA_DIR)
