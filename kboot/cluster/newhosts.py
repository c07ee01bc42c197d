"""Restore onto new hosts: how a backup's cluster maps onto an inventory's other machines.

A snapshot remembers the hosts it was taken on: Node objects (and their Leases) of the old
machines, pods bound to them, and the ``kubernetes`` Service's Endpoints listing the old control
planes' addresses. After the store is restored onto the inventory's hosts (etcd with the new
members' peer URLs, see :func:`kboot.cluster.etcdsnap.snapshot_restore_command`; certificates
re-issued for the new SANs by ``kboot up``'s PKI step with the backup's CA), :func:`forget_vanished`
brings the API in line with the inventory: Node objects of hosts no longer in it are deleted,
so are their node Leases, the pods bound to them (with no grace period: no kubelet is left to
confirm; their controllers create replacements which the scheduler places on the new nodes) and
their addresses in Ingress statuses; the ``kubernetes`` Endpoints and EndpointSlice then list
exactly the inventory's control planes. The decisions are pure functions over API objects,
tested as data.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kboot.cluster.archive import Manifest, Member
from kboot.cluster.removenode import delete_node, forget_ingress_address
from kboot.cluster.topology import Node, Topology
from kboot.controlplane.client.api import DeleteOptions
from kboot.controlplane.client.errors import NotFound
from kboot.controlplane.client.sync import SyncClient
from kboot.errors import ConfigError

Obj = Mapping[str, Any]
API_SERVICE = ("default", "kubernetes")


def store_hosts(topo: Topology) -> tuple[Node, ...]:
    """Where the store lives: the etcd members, or the control plane with the embedded store."""
    return topo.control_planes if topo.datastore == "sqlite" else topo.etcd_members


def moved(manifest: Manifest, topo: Topology) -> bool:
    """True when the store's hosts (names or addresses) differ from the backup's: the cluster is
    then installed on the inventory's hosts before its store is restored."""
    return set(manifest.members) != {Member(n.name, n.ip) for n in store_hosts(topo)}


def check_networks(manifest: Manifest, topo: Topology, *, archive: Path, inventory: str) -> None:
    """The snapshot's Services hold cluster IPs of the backup's service CIDR and its DNS names
    end in its cluster domain: a restore cannot change either (older archives do not say)."""
    for field, then, now in (("service_cidr", manifest.service_cidr, topo.service_cidr),
                             ("cluster_domain", manifest.cluster_domain, topo.cluster_domain)):
        if then and then != now:
            raise ConfigError(
                f"{archive}: the backup's cluster has {field} {then}, but {inventory} sets "
                f"cluster.{field} {now}; the restored Services and DNS names would not work — "
                f"set cluster.{field}: {then} in {inventory}")


def _name(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def vanished_nodes(nodes: Iterable[Obj], topo: Topology) -> tuple[str, ...]:
    """Names of Node objects whose host is not in the inventory, sorted."""
    wanted = {n.name for n in topo.nodes}
    return tuple(sorted(name for name in map(_name, nodes) if name and name not in wanted))


def stranded_pods(pods: Iterable[Obj], vanished: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """(namespace, name) of the pods bound to a vanished node, sorted."""
    gone = set(vanished)
    return tuple(sorted((str(p["metadata"].get("namespace", "")), _name(p)) for p in pods
                        if p.get("spec", {}).get("nodeName") in gone))


def api_addresses(topo: Topology) -> tuple[str, ...]:
    """The addresses the ``kubernetes`` Service's endpoints must list: the control planes'."""
    return tuple(n.ip for n in topo.control_planes)


def api_endpoints(obj: Obj, addresses: Sequence[str]) -> dict[str, Any] | None:
    """The ``kubernetes`` Endpoints listing exactly ``addresses`` (ports kept); None when it
    already does."""
    subsets = obj.get("subsets") or [{}]
    if [a.get("ip") for a in subsets[0].get("addresses") or []] == list(addresses) and \
            len(subsets) == 1:
        return None
    new = copy.deepcopy(dict(obj))
    subset = copy.deepcopy(subsets[0])
    subset["addresses"] = [{"ip": ip} for ip in addresses]
    subset.pop("notReadyAddresses", None)
    new["subsets"] = [subset]
    return new


def api_endpoint_slice(obj: Obj, addresses: Sequence[str]) -> dict[str, Any] | None:
    """The ``kubernetes`` EndpointSlice with one ready endpoint per address; None when it
    already has exactly those."""
    have = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    if have == list(addresses):
        return None
    new = copy.deepcopy(dict(obj))
    new["endpoints"] = [{"addresses": [ip], "conditions": {"ready": True}} for ip in addresses]
    return new


def node_addresses(nodes: Iterable[Obj], names: Sequence[str]) -> tuple[str, ...]:
    """The InternalIP addresses of the named Node objects (what Ingress statuses list)."""
    wanted = set(names)
    return tuple(sorted({a["address"] for n in nodes if _name(n) in wanted
                         for a in n.get("status", {}).get("addresses") or []
                         if a.get("type") == "InternalIP" and a.get("address")}))


def forget_vanished(topo: Topology, kubeconfig: Path) -> tuple[str, ...]:
    """Bring the restored API in line with the inventory's hosts (idempotent); returns the
    names of the Node objects it deleted."""
    with SyncClient.from_kubeconfig(kubeconfig) as api:
        nodes = api.list("nodes")
        vanished = vanished_nodes(nodes, topo)
        for name in vanished:  # the Node and its Lease first: nothing is scheduled there any more
            delete_node(api, name)
        now = DeleteOptions(grace_period_seconds=0)
        for namespace, name in stranded_pods(api.list("pods"), vanished):
            with contextlib.suppress(NotFound):
                api.delete("pods", name, namespace=namespace, options=now)
        kept = {n.ip for n in topo.nodes}
        for ip in node_addresses(nodes, vanished):
            if ip not in kept:
                forget_ingress_address(api, ip)
        _fix_api_endpoints(api, api_addresses(topo))
    return vanished


def _fix_api_endpoints(api: SyncClient, addresses: Sequence[str]) -> None:
    namespace, name = API_SERVICE
    for ref, change in (("endpoints", api_endpoints),
                        ("endpointslices", api_endpoint_slice)):
        current = api.get_or_none(ref, name, namespace=namespace)
        new = change(current, addresses) if current is not None else None
        if new is not None:
            api.replace(ref, new)
