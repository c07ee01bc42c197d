"""The cluster as ``kboot up`` sees it: roles, addresses and network settings from an inventory.

Everything derived from the inventory that more than one phase needs is computed once here, so
playbooks receive plain variables and never re-derive membership.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from kboot.errors import InventoryError, Location
from kboot.inventory import Inventory

DEFAULTS = {
    "pod_cidr": "10.244.0.0/16",
    "service_cidr": "10.96.0.0/16",
    "cluster_domain": "cluster.local",
}


@dataclass(frozen=True)
class Node:
    name: str
    ip: str  # the address components use (``internal_address`` var, else the SSH address)
    control_plane: bool
    etcd: bool
    worker: bool
    ingress: bool = False  # runs kboot-ingress (group ``ingress``; default: the workers)


@dataclass(frozen=True)
class Topology:
    name: str
    nodes: tuple[Node, ...]
    pod_cidr: str
    service_cidr: str
    cluster_domain: str
    api_vip: str | None
    schedulable_control_plane: bool
    datastore: str = "etcd"  # "sqlite": the apiserver's embedded store, one control plane
    # where hosts get Debian packages: "bundle" (pushed from the workstation, air-gapped) or
    # "host" (each host's own apt sources; the bundle's wheels and images are still pushed)
    package_source: str = "bundle"

    @property
    def control_planes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.control_plane)

    @property
    def etcd_members(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.etcd)

    @property
    def workers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.worker)

    @property
    def ingress_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.ingress)

    @property
    def kubernetes_service_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr)[1])

    @property
    def dns_service_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr)[10])

    @property
    def api_server_url(self) -> str:
        """Where workstation clients reach the API: the VIP, else the first control plane."""
        host = self.api_vip or self.control_planes[0].ip
        return f"https://{host}:6443"

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


def _net(value: object, field: str, source: str) -> str:
    try:
        return str(ipaddress.ip_network(str(value), strict=True))
    except ValueError as exc:
        raise InventoryError(
            f"expected a network in CIDR form (e.g. 10.96.0.0/16): {exc}",
            location=Location(source), field=f"cluster.{field}",
        ) from None


def topology_from_inventory(inv: Inventory) -> Topology:
    """Roles from the groups ``control_plane``, ``etcd`` (default: the control planes) and
    ``workers``; raises InventoryError for an unusable layout."""
    cps = set(inv.group_members("control_plane"))
    datastore = str(inv.cluster.get("datastore", "etcd"))
    etcd = set(inv.group_members("etcd")) or (cps if datastore == "etcd" else set())
    workers = set(inv.group_members("workers"))
    problems = []
    if not cps:
        problems.append("group control_plane: expected at least one host")
    if datastore == "sqlite":
        if len(cps) > 1:
            problems.append(f"cluster.datastore: sqlite is the embedded single-node store; "
                            f"expected one control plane, got {len(cps)} (use etcd for HA)")
        if etcd:
            problems.append("group etcd: expected no members with cluster.datastore sqlite")
    # an even number of members is allowed (it tolerates no more failures than one member
    # fewer): the passing state of a control plane replaced or shrunk one member at a time
    ingress = set(inv.group_members("ingress")) if "ingress" in inv.groups else None
    cluster = inv.cluster
    schedulable = bool(cluster.get("schedulable_control_plane", not workers))
    if not workers and not schedulable:
        problems.append(
            "group workers: expected at least one worker or a schedulable control plane"
        )
    if problems:
        raise InventoryError("; ".join(problems), location=Location(inv.source))
    nodes = tuple(
        Node(
            name=name,
            ip=str(h.vars.get("internal_address") or h.connection.address),
            control_plane=name in cps,
            etcd=name in etcd,
            worker=name in workers or (schedulable and name in cps),
            ingress=name in ingress if ingress is not None else (
                name in workers or (not workers and name in cps)),
        )
        for name, h in inv.hosts.items()
        if name in cps | etcd | workers
    )
    return Topology(
        name=str(cluster.get("name") or Path(inv.source).stem),
        nodes=nodes,
        pod_cidr=_net(cluster.get("pod_cidr", DEFAULTS["pod_cidr"]), "pod_cidr", inv.source),
        service_cidr=_net(
            cluster.get("service_cidr", DEFAULTS["service_cidr"]), "service_cidr", inv.source
        ),
        cluster_domain=str(cluster.get("cluster_domain", DEFAULTS["cluster_domain"])),
        api_vip=str(cluster["api_vip"]) if cluster.get("api_vip") else None,
        schedulable_control_plane=schedulable,
        datastore=datastore,
        package_source=str(cluster.get("package_source", "bundle")),
    )


def state_dir(cluster_name: str) -> Path:
    """The workstation's state for one cluster (PKI, kubeconfigs): ``$KBOOT_HOME/clusters/NAME``."""
    home = Path(os.environ.get("KBOOT_HOME", Path.home() / ".kboot"))
    return home / "clusters" / cluster_name
