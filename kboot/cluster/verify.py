"""The ``verify`` phase: the cluster answers through the API, every node is Ready, and a smoke
pod runs. Uses the admin kubeconfig and the control plane's sync client."""

from __future__ import annotations

import logging
from pathlib import Path

from kboot.cluster.topology import Topology
from kboot.controlplane.client.sync import SyncClient
from kboot.errors import ClusterError

log = logging.getLogger(__name__)

SMOKE_NAMESPACE = "kube-system"
SMOKE_POD = "kboot-smoke"
SMOKE_IMAGE = "kboot.io/busybox:1.35"


def _smoke_pod() -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": SMOKE_POD, "namespace": SMOKE_NAMESPACE,
                     "labels": {"app.kubernetes.io/managed-by": "kboot"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "smoke", "image": SMOKE_IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c", "echo kboot-smoke-ok"]}],
        },
    }


def verify_cluster(topo: Topology, admin_kubeconfig: Path, *, timeout: float = 180.0) -> None:
    """Raise ClusterError naming what is not right; return when the cluster works."""
    with SyncClient.from_kubeconfig(admin_kubeconfig) as api:
        try:
            api.wait_nodes_ready(len(topo.nodes), timeout=timeout)
        except TimeoutError:
            ready = [n["metadata"]["name"] for n in api.list("nodes")]
            raise ClusterError(
                f"verify: {len(topo.nodes)} nodes expected Ready; registered: {ready or 'none'} "
                "(see `kboot logs INVENTORY --component kubelet`)"
            ) from None
        if api.get_or_none("pods", SMOKE_POD, namespace=SMOKE_NAMESPACE) is not None:
            api.delete("pods", SMOKE_POD, namespace=SMOKE_NAMESPACE)
            api.wait_for("pods", lambda ps: not any(
                p["metadata"]["name"] == SMOKE_POD for p in ps), namespace=SMOKE_NAMESPACE,
                timeout=60)
        api.create("pods", _smoke_pod())
        try:
            api.wait_for("pods", _succeeded, namespace=SMOKE_NAMESPACE, timeout=timeout)
        except TimeoutError:
            raise ClusterError(
                f"verify: the smoke pod {SMOKE_NAMESPACE}/{SMOKE_POD} did not complete "
                f"within {timeout:.0f}s (kubectl -n {SMOKE_NAMESPACE} describe pod {SMOKE_POD})"
            ) from None
        api.delete("pods", SMOKE_POD, namespace=SMOKE_NAMESPACE)


def _succeeded(pods: list[dict[str, object]]) -> bool:
    for p in pods:
        meta = p.get("metadata")
        status = p.get("status")
        if isinstance(meta, dict) and meta.get("name") == SMOKE_POD and isinstance(status, dict):
            return status.get("phase") == "Succeeded"
    return False
