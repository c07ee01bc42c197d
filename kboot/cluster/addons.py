"""The ``addons`` phase: cluster objects kboot owns, applied through the API with the admin
credentials (server-side apply, field manager ``kboot``; re-applying is a no-op).

- ``kube-system/kube-dns``: a Service on the cluster DNS address whose Endpoints are every
  node's kboot-dns (on the node address), so pods reach DNS through kboot-proxy;
- the RBAC objects of optional components (``templates/ingress/kboot-ingress-rbac.yaml``);
- the default StorageClass ``local-path`` (``WaitForFirstConsumer``, provisioner
  ``kboot.io/local-path``: data under ``/var/lib/kboot/local-path`` on the pod's node).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kboot.cluster.resources import templates_dir
from kboot.cluster.topology import Topology
from kboot.controlplane.api.storageclasses import local_path_class
from kboot.controlplane.client.sync import SyncClient

DNS_PORTS = ({"name": "dns", "port": 53, "protocol": "UDP"},
             {"name": "dns-tcp", "port": 53, "protocol": "TCP"})


def dns_objects(topo: Topology) -> list[dict[str, Any]]:
    meta = {"name": "kube-dns", "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "app.kubernetes.io/managed-by": "kboot"}}
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": meta,
        "spec": {"clusterIP": topo.dns_service_ip,
                 "ports": [{**p, "targetPort": 53} for p in DNS_PORTS]},
    }
    endpoints = {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": meta,
        "subsets": [{
            "addresses": [{"ip": n.ip, "nodeName": n.name} for n in topo.nodes],
            "ports": [dict(p) for p in DNS_PORTS],
        }],
    }
    return [service, endpoints]


def manifest_objects(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def addon_objects(topo: Topology) -> list[dict[str, Any]]:
    objects = [*dns_objects(topo), local_path_class()]
    if topo.ingress_nodes:
        objects += manifest_objects(templates_dir() / "ingress" / "kboot-ingress-rbac.yaml")
    return objects


def apply_addons(topo: Topology, admin_kubeconfig: Path) -> None:
    with SyncClient.from_kubeconfig(admin_kubeconfig) as api:
        for obj in addon_objects(topo):
            api.apply(obj, field_manager="kboot")
