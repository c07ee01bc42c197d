"""Variables the ``up`` playbooks receive: cluster-wide ones and per-host ones.

Computed once from the topology, the PKI push lists and the bundle, so YAML never re-derives
etcd membership or addresses. Per-host values are merged into the host's inventory variables
(``cluster_inventory``), cluster-wide ones are passed as extra variables.
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from typing import Any

from kboot.bundle.build import ETCD_PACKAGES
from kboot.cluster.pki import HOST_CONFIG_DIR, HOST_PKI_DIR, PkiResult
from kboot.cluster.rollout import ROLLING_GROUP, rolling_order
from kboot.cluster.topology import Node, Topology
from kboot.inventory import Group, Host, Inventory

VENV_DIR = "/opt/kboot/venv"
ETCD_DATA_DIR = "/var/lib/kboot/etcd"
SQLITE_DIR = "/var/lib/kboot/store"  # 0700: the embedded store's database and its WAL
NODES_GROUP = "kboot_nodes"
# Role groups from the topology (never from the inventory's own groups: an inventory without an
# ``etcd`` group still has etcd members, and none at all with the embedded store)
ETCD_GROUP = "kboot_etcd_members"
CONTROL_PLANE_GROUP = "kboot_control_planes"
SQLITE_GROUP = "kboot_sqlite_store"  # the control plane holding the embedded store (day-2 ops)
INGRESS_GROUP = "kboot_ingress"
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane:NoSchedule"
OWN_PROCESSES = ("etcd", "kboot-apiserver", "haproxy", "containerd", "python3", "kboot-kubelet",
                 "kboot-proxy", "sshd")
PORTS = (2379, 2380, 6443, 10250)


def storage_url(topo: Topology) -> str:
    """The apiserver's ``--storage``: the etcd members, or the embedded SQLite database."""
    if topo.datastore == "sqlite":
        return f"sqlite://{SQLITE_DIR}/kboot.db"
    return etcd_storage_url(topo)


def etcd_storage_url(topo: Topology) -> str:
    hosts = ",".join(f"{n.ip}:2379" for n in topo.etcd_members)
    p = f"{HOST_PKI_DIR}"
    return (f"etcd://{hosts}?cacert={p}/etcd/ca.crt&cert={p}/apiserver-etcd-client.crt"
            f"&key={p}/apiserver-etcd-client.key")


def cluster_vars(topo: Topology, *, bundle: dict[str, Any]) -> dict[str, Any]:
    return {
        "cluster_name": topo.name,
        "pki_dir": HOST_PKI_DIR,
        "config_dir": HOST_CONFIG_DIR,
        "venv_dir": VENV_DIR,
        "etcd_data_dir": ETCD_DATA_DIR,
        "etcd_initial_cluster": ",".join(f"{n.name}=https://{n.ip}:2380"
                                         for n in topo.etcd_members),
        "etcd_wait_seconds": 90,
        "apiserver_wait_seconds": 90,
        "apiserver_storage_url": storage_url(topo),
        "datastore": topo.datastore,
        "package_source": topo.package_source,
        "sqlite_dir": SQLITE_DIR,
        "apiserver_endpoints": [{"name": n.name, "address": n.ip} for n in topo.control_planes],
        "service_cidr": topo.service_cidr,
        "cluster_cidr": topo.pod_cidr,
        "cluster_dns_ip": topo.dns_service_ip,
        "cluster_domain": topo.cluster_domain,
        "api_vip": topo.api_vip or "",
        # VRRP router id (1-255) of the keepalived instance holding api_vip: derived from the
        # cluster name, so two clusters on one network do not answer each other's adverts
        "api_vip_router_id": zlib.crc32(topo.name.encode()) % 255 + 1,
        "api_vip_peers": [n.ip for n in topo.control_planes],
        "preflight_min_memory_mb": 512,
        "preflight_max_skew_seconds": 30,
        "preflight_workstation_time": int(time.time()),
        "preflight_ports": list(PORTS),
        "preflight_own_processes": list(OWN_PROCESSES),
        "preflight_hostname_check": "false",
        **bundle,
    }


def api_vip_priority(topo: Topology, node: Node) -> int:
    """keepalived: the first control plane is the preferred holder of api_vip."""
    cps = [n.name for n in topo.control_planes]
    return 150 - cps.index(node.name) if node.name in cps else 0


def _host_vars(topo: Topology, node: Node, pki: PkiResult) -> dict[str, Any]:
    taints = [CONTROL_PLANE_TAINT] if node.control_plane and not node.worker else []
    labels = ["node-role.kubernetes.io/control-plane="] if node.control_plane else []
    labels += ["node-role.kubernetes.io/worker="] if node.worker else []
    return {
        "node_ip": node.ip,
        "api_vip_priority": api_vip_priority(topo, node),
        "node_taints": taints,
        "node_labels": labels,
        "pki_files": [dataclasses.asdict(f) for f in pki.files.get(node.name, [])],
        "bootstrap_kubeconfig": str(pki.bootstrap_kubeconfig),
        # Debian packages beyond / short of the bundle's list, by role (one apt run per host)
        "node_skip_packages": [] if node.etcd else list(ETCD_PACKAGES),
        "node_extra_packages": ["keepalived"] if node.control_plane and topo.api_vip else [],
    }


def cluster_inventory(
    inv: Inventory, topo: Topology, pki: PkiResult, defaults: dict[str, Any]
) -> Inventory:
    """``inv`` plus the group ``kboot_nodes`` and each node's computed variables.

    ``defaults`` (from :func:`cluster_vars`) sit below the inventory's own variables, so a user
    can override any of them per group or host; the computed per-host values sit above.
    """
    names = tuple(n.name for n in topo.nodes)
    hosts = dict(inv.hosts)
    for node in topo.nodes:
        h = hosts[node.name]
        hosts[node.name] = Host(
            name=h.name,
            connection=h.connection,
            groups=(*h.groups, NODES_GROUP, *((INGRESS_GROUP,) if node.ingress else ())),
            vars={**defaults, **h.vars, **_host_vars(topo, node, pki)},
        )
    ingress = tuple(n.name for n in topo.ingress_nodes)
    groups = {**inv.groups, NODES_GROUP: Group(NODES_GROUP, hosts=names),
              INGRESS_GROUP: Group(INGRESS_GROUP, hosts=ingress),
              ETCD_GROUP: Group(ETCD_GROUP, hosts=tuple(n.name for n in topo.etcd_members)),
              CONTROL_PLANE_GROUP: Group(CONTROL_PLANE_GROUP,
                                         hosts=tuple(n.name for n in topo.control_planes)),
              ROLLING_GROUP: Group(ROLLING_GROUP, hosts=rolling_order(topo))}
    return dataclasses.replace(inv, hosts=hosts, groups=groups)


def with_nodes_group(inv: Inventory, topo: Topology) -> Inventory:
    """``inv`` plus the group ``kboot_nodes`` (every host with a role), for day-2 playbooks."""
    names = tuple(n.name for n in topo.nodes)
    return dataclasses.replace(inv, groups={**inv.groups, NODES_GROUP: Group(NODES_GROUP, names)})
