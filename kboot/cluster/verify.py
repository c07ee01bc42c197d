"""The ``verify`` phase: the cluster answers through the API, every node is Ready, and a smoke
pod runs. Uses the admin kubeconfig and the control plane's sync client.

A ``kboot up`` that changed nothing on any host skips the smoke pod once one has passed on the
same nodes (:func:`verify_unchanged`; a no-op re-run then creates nothing in the cluster): the
nodes' Ready check still runs. The record of the last passing smoke pod lives in the cluster's
workstation state and is removed before each new smoke pod, so a run after a failed one always
tries again.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

from kboot.cluster.topology import Topology, state_dir
from kboot.controlplane.client.api import DeleteOptions
from kboot.controlplane.client.errors import NotFound
from kboot.controlplane.client.sync import SyncClient
from kboot.errors import ClusterError

log = logging.getLogger(__name__)

SMOKE_NAMESPACE = "kube-system"
SMOKE_PREFIX = "kboot-smoke-"
SMOKE_LABEL = "kboot.io/smoke"
SMOKE_IMAGE = "kboot.io/busybox:1.35"
POLL = 0.2  # seconds between looks at the smoke pod (it usually completes within a second)
PASSED = "verify.json"  # in the cluster's state directory: the nodes of the last passing smoke pod


def _smoke_pod() -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": SMOKE_PREFIX, "namespace": SMOKE_NAMESPACE,
                     "labels": {"app.kubernetes.io/managed-by": "kboot", SMOKE_LABEL: "true"}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "smoke", "image": SMOKE_IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c", "echo kboot-smoke-ok"]}],
        },
    }


def verify_cluster(topo: Topology, admin_kubeconfig: Path, *, timeout: float = 180.0) -> None:
    """Raise ClusterError naming what is not right; return when the cluster works."""
    record = state_dir(topo.name) / PASSED
    record.unlink(missing_ok=True)
    with SyncClient.from_kubeconfig(admin_kubeconfig) as api:
        _nodes_ready(api, topo, timeout)
        _smoke(api, timeout)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"nodes": _node_names(topo)}) + "\n")


def verify_unchanged(topo: Topology, admin_kubeconfig: Path, *, timeout: float = 180.0
                     ) -> None:
    """The verify step of a run that changed nothing on any host: the nodes' Ready check, and
    the smoke pod only when none has passed on these nodes yet (:func:`verify_cluster`)."""
    if not _passed_before(topo):
        verify_cluster(topo, admin_kubeconfig, timeout=timeout)
        return
    with SyncClient.from_kubeconfig(admin_kubeconfig) as api:
        _nodes_ready(api, topo, timeout)


def _node_names(topo: Topology) -> list[str]:
    return sorted(n.name for n in topo.nodes)


def _passed_before(topo: Topology) -> bool:
    try:
        doc = json.loads((state_dir(topo.name) / PASSED).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("nodes") == _node_names(topo)


def _nodes_ready(api: SyncClient, topo: Topology, timeout: float) -> None:
    try:
        api.wait_nodes_ready(len(topo.nodes), timeout=timeout)
    except TimeoutError:
        ready = [n["metadata"]["name"] for n in api.list("nodes")]
        raise ClusterError(
            f"verify: {len(topo.nodes)} nodes expected Ready; registered: {ready or 'none'} "
            "(see `kboot logs INVENTORY --component kubelet`)"
        ) from None


def _smoke(api: SyncClient, timeout: float) -> None:
    selector = f"{SMOKE_LABEL}=true"
    # each run has its own pod (generateName): nothing waits for an earlier one to go
    for old in api.list("pods", namespace=SMOKE_NAMESPACE, label_selector=selector):
        _remove(api, old["metadata"]["name"])
    name = api.create("pods", _smoke_pod())["metadata"]["name"]
    try:
        api.wait_for("pods", lambda pods: _finished(pods, name), namespace=SMOKE_NAMESPACE,
                     label_selector=selector, timeout=timeout, interval=POLL)
    except TimeoutError:
        raise ClusterError(
            f"verify: the smoke pod {SMOKE_NAMESPACE}/{name} did not complete "
            f"within {timeout:.0f}s (kubectl -n {SMOKE_NAMESPACE} describe pod {name})"
        ) from None
    _remove(api, name)


def _remove(api: SyncClient, name: str) -> None:
    with contextlib.suppress(NotFound):
        api.delete("pods", name, namespace=SMOKE_NAMESPACE,
                   options=DeleteOptions(grace_period_seconds=0))


def _finished(pods: list[dict[str, object]], name: str) -> bool:
    """True once the smoke pod succeeded; a failed one is an error at once."""
    for p in pods:
        meta, status = p.get("metadata"), p.get("status")
        if isinstance(meta, dict) and meta.get("name") == name and isinstance(status, dict):
            if status.get("phase") == "Failed":
                raise ClusterError(f"verify: the smoke pod {SMOKE_NAMESPACE}/{name} failed "
                                   f"(kubectl -n {SMOKE_NAMESPACE} logs {name})")
            return status.get("phase") == "Succeeded"
    return False
