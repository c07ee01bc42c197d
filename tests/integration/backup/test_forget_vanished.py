"""The restore's ``forget`` step against a real apiserver: after a snapshot of other hosts is
restored, the Node objects, Leases and pods of hosts not in the inventory are deleted, pods on
kept nodes stay, and the ``kubernetes`` endpoints list the inventory's control planes only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kboot.cluster.newhosts import forget_vanished
from kboot.cluster.topology import topology_from_inventory
from kboot.controlplane.client.sync import SyncClient
from kboot.inventory import Connection, Group, Host, Inventory
from tests.fixtures.apiserver import ApiServer

pytestmark = pytest.mark.integration


def _site() -> Inventory:
    hosts = {"dr-cp1": Host("dr-cp1", Connection(address="10.9.0.11")),
             "dr-w1": Host("dr-w1", Connection(address="10.9.0.21"))}
    return Inventory("dr.yaml", hosts, {
        "control_plane": Group("control_plane", hosts=("dr-cp1",)),
        "workers": Group("workers", hosts=("dr-w1",))}, cluster={"name": "prod"})


def _node(name: str, ip: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}


def _pod(name: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}


def _lease(name: str) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name}}


def test_forget_vanished_hosts(apiserver: ApiServer) -> None:
    with SyncClient.from_kubeconfig(apiserver.kubeconfig) as api:
        for name, ip in (("cp1", "10.0.0.11"), ("w2", "10.0.0.22"), ("dr-cp1", "10.9.0.11")):
            api.create("nodes", _node(name, ip))
            api.create("leases", _lease(name))
        for name, node in (("on-old-cp", "cp1"), ("on-old-w", "w2"), ("on-new", "dr-cp1")):
            api.create("pods", _pod(name, node))
        endpoints = api.get("endpoints", "kubernetes", namespace="default")
        endpoints["subsets"][0]["addresses"] = [{"ip": "10.0.0.11"}, {"ip": "10.0.0.12"}]
        api.replace("endpoints", endpoints)

        topo = topology_from_inventory(_site())
        assert forget_vanished(topo, Path(apiserver.kubeconfig)) == ("cp1", "w2")

        assert {n["metadata"]["name"] for n in api.list("nodes")} == {"dr-cp1"}
        assert {p["metadata"]["name"] for p in api.list("pods", namespace="default")} == {
            "on-new"}
        assert {x["metadata"]["name"] for x in api.list("leases",
                                                        namespace="kube-node-lease")} == {
            "dr-cp1"}
        subsets = api.get("endpoints", "kubernetes", namespace="default")["subsets"]
        assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.9.0.11"]
        assert subsets[0]["ports"][0]["name"] == "https"
        slice_ = api.get("endpointslices", "kubernetes", namespace="default")
        assert [e["addresses"] for e in slice_["endpoints"]] == [["10.9.0.11"]]
        # idempotent: a second run finds nothing to do
        assert forget_vanished(topo, Path(apiserver.kubeconfig)) == ()
