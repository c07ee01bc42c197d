"""Dynamic local storage end to end on a real apiserver (memory store) with the
controller-manager, scheduler and hollow nodes, driven with the real kubectl: the default
class ``kboot up`` installs, StatefulSet claims provisioned on the scheduled node, the
DefaultStorageClass and resize admission, reclaim by policy, and the Pending pod that names
a missing class. (Hollow nodes run no kubelet: the directory's removal is the lab e2e's.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from kboot.cluster.addons import apply_addons
from kboot.cluster.topology import Node, Topology
from kboot.controlplane.api.storageclasses import DATA_FINALIZER, SELECTED_NODE, pinned_node
from kboot.controlplane.client.sync import SyncClient
from tests.fixtures.apiserver import ApiServer, start_apiserver

from .cluster import ControlPlane, running_pods, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with start_apiserver() as srv:
        yield srv


@pytest.fixture(scope="module", autouse=True)
def default_class(server: ApiServer) -> None:
    """What ``kboot up``'s addons phase applies (the same function)."""
    topo = Topology("t", (Node("cp1", "127.0.0.1", control_plane=True, etcd=True,
                               worker=True),), "10.244.0.0/16", "10.96.0.0/16",
                    "cluster.local", None, False)
    apply_addons(topo, server.kubeconfig)


def statefulset(name: str, replicas: int, cls: str | None = None) -> str:
    cls_line = f"\n      storageClassName: {cls}" if cls else ""
    return f"""apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: {name}}}
spec:
  serviceName: {name}
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: c
        image: "busybox:1"
        volumeMounts: [{{name: data, mountPath: /data}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]{cls_line}
      resources: {{requests: {{storage: 1Gi}}}}
"""


def claims(client: SyncClient, ns: str) -> dict[str, dict[str, Any]]:
    return {c["metadata"]["name"]: c
            for c in client.list("persistentvolumeclaims", namespace=ns)}


def bound(client: SyncClient, ns: str, name: str) -> dict[str, Any] | None:
    claim = claims(client, ns).get(name)
    return claim if claim and (claim.get("status") or {}).get("phase") == "Bound" else None


def test_a_statefulset_without_a_class_gets_local_volumes_on_its_pods_nodes(
        cp: ControlPlane, client: SyncClient) -> None:
    ns = "sts"
    cp.kubectl("create", "namespace", ns)
    cp.kubectl("apply", "-n", ns, "-f", "-", input=statefulset("db", 2))
    pods = wait_for("2 pods running",
                    lambda: (lambda r: r if len(r) == 2 else None)(
                        running_pods(client, ns, "app=db")), cp=cp, timeout=90)
    placed = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods}
    for i in range(2):
        claim = wait_for("claim bound", lambda i=i: bound(client, ns, f"data-db-{i}"), cp=cp)
        assert claim["spec"]["storageClassName"] == "local-path"  # DefaultStorageClass
        assert claim["metadata"]["annotations"][SELECTED_NODE] == placed[f"db-{i}"]
        pv = client.get("persistentvolumes", claim["spec"]["volumeName"])
        assert pinned_node(pv) == placed[f"db-{i}"]
        assert DATA_FINALIZER in pv["metadata"]["finalizers"]
    table = cp.kubectl("get", "pv,pvc,sc", "-n", ns)
    assert "local-path (default)   kboot.io/local-path   Delete          WaitForFirstConsumer" \
        in table
    assert "VOLUMEBINDINGMODE" in table and "ALLOWVOLUMEEXPANSION" in table

    # a replaced pod goes back to the node holding its data
    old_uid = next(p["metadata"]["uid"] for p in pods if p["metadata"]["name"] == "db-0")
    cp.kubectl("delete", "pod", "db-0", "-n", ns, "--wait=false")
    back = wait_for("db-0 back", lambda: next(
        (p for p in running_pods(client, ns, "app=db") if p["metadata"]["name"] == "db-0"
         and p["metadata"]["uid"] != old_uid), None), cp=cp, timeout=90)
    assert back["spec"]["nodeName"] == placed["db-0"]

    # expansion: recorded (local-path has no quota); shrinking is refused
    cp.kubectl("patch", "pvc", "data-db-0", "-n", ns, "-p",
               '{"spec":{"resources":{"requests":{"storage":"3Gi"}}}}')
    wait_for("capacity recorded", lambda: (bound(client, ns, "data-db-0") or {}).get(
        "status", {}).get("capacity", {}).get("storage") == "3Gi", cp=cp)
    shrink = cp.server.kubectl("patch", "pvc", "data-db-0", "-n", ns, "-p",
                               '{"spec":{"resources":{"requests":{"storage":"1Gi"}}}}')
    assert shrink.returncode != 0 and "can not be less than previous value" in shrink.stderr

    # scaled down and claims deleted: Delete reclaims the volume (the node removes the data)
    names = {claims(client, ns)[f"data-db-{i}"]["spec"]["volumeName"] for i in range(2)}
    cp.kubectl("scale", "statefulset", "db", "-n", ns, "--replicas=0")
    wait_for("pods gone", lambda: not client.list("pods", namespace=ns), cp=cp, timeout=90)
    cp.kubectl("delete", "pvc", "--all", "-n", ns)
    for name in names:
        pv = wait_for("volume deleted", lambda name=name: (lambda v: v if v["metadata"].get(
            "deletionTimestamp") else None)(client.get("persistentvolumes", name)), cp=cp)
        assert pv["metadata"]["finalizers"] == [DATA_FINALIZER]  # waits for its node


def test_retain_keeps_the_volume_and_immediate_binds_without_a_pod(
        cp: ControlPlane, client: SyncClient) -> None:
    ns = "keep"
    cp.kubectl("create", "namespace", ns)
    cp.kubectl("apply", "-f", "-", input="""apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: keep-now}
provisioner: kboot.io/local-path
reclaimPolicy: Retain
volumeBindingMode: Immediate
""")
    cp.kubectl("apply", "-n", ns, "-f", "-", input="""apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: kept}
spec:
  storageClassName: keep-now
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
""")
    claim = wait_for("bound at once", lambda: bound(client, ns, "kept"), cp=cp)
    refused = cp.server.kubectl("patch", "pvc", "kept", "-n", ns, "-p",
                                '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}')
    assert refused.returncode != 0 and "must support resize" in refused.stderr
    name = claim["spec"]["volumeName"]
    cp.kubectl("delete", "pvc", "kept", "-n", ns)
    wait_for("released", lambda: client.get("persistentvolumes", name).get(
        "status", {}).get("phase") == "Released", cp=cp)
    assert not client.get("persistentvolumes", name)["metadata"].get("deletionTimestamp")
    changed = cp.server.kubectl("patch", "sc", "keep-now", "-p", '{"reclaimPolicy":"Delete"}')
    assert changed.returncode != 0 and "updates to reclaimPolicy are forbidden" in changed.stderr


def test_an_unknown_class_leaves_the_pod_pending_with_an_event_naming_it(
        cp: ControlPlane, client: SyncClient) -> None:
    ns = "nope"
    cp.kubectl("create", "namespace", ns)
    cp.kubectl("apply", "-n", ns, "-f", "-", input=statefulset("web", 1, cls="fast-ssd"))

    def event() -> str | None:
        items = json.loads(cp.kubectl("get", "events", "-n", ns, "-o", "json"))["items"]
        return next((e["message"] for e in items if e["reason"] == "FailedScheduling"
                     and e["involvedObject"]["name"] == "web-0"), None)

    message = wait_for("FailedScheduling", event, cp=cp)
    assert 'storageclass.storage.k8s.io "fast-ssd" not found' in message
    pod = client.get("pods", "web-0", namespace=ns)
    assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")
    # the binder's event on the claim is recorded on its own schedule: wait for it too
    wait_for("ProvisioningFailed on the claim", lambda: 'storageclass.storage.k8s.io "fast-ssd" '
             'not found' in cp.kubectl("describe", "pvc", "data-web-0", "-n", ns), cp=cp)


def test_a_node_may_only_remove_finalizers_of_volumes_pinned_to_it(
        cp: ControlPlane, client: SyncClient) -> None:
    """The local-path cleanup's rights, and nothing more: Node authorizer + NodeRestriction."""
    for name, node in (("pv-node-a", "node-a"), ("pv-node-b", "node-b")):
        cp.kubectl("apply", "-f", "-", input=f"""apiVersion: v1
kind: PersistentVolume
metadata: {{name: {name}, finalizers: [{DATA_FINALIZER}, example.com/keep]}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  hostPath: {{path: /var/lib/kboot/local-path/pvc-x_ns_{name}}}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{{key: kubernetes.io/hostname, operator: In, values: [{node}]}}]
""")
    kubelet = cp.server.identity("system:node:node-a", ["system:nodes"])

    def as_node(*args: str, input: str | None = None) -> Any:
        return cp.server.kubectl(*args, identity=kubelet, input=input)

    drop = '{"metadata":{"finalizers":["example.com/keep"]}}'
    assert as_node("get", "pv", "pv-node-b").returncode == 0  # reading: system:node
    other = as_node("patch", "pv", "pv-node-b", "--type=merge", "-p", drop)
    assert other.returncode != 0 and "forbidden" in other.stderr.lower()
    moved = as_node("patch", "pv", "pv-node-a", "--type=merge", "-p",
                    '{"spec":{"hostPath":{"path":"/etc"}}}')
    assert moved.returncode != 0 and "may only remove finalizers" in moved.stderr
    added = as_node("patch", "pv", "pv-node-a", "--type=merge", "-p",
                    '{"metadata":{"finalizers":["a","b","c"]}}')
    assert added.returncode != 0 and "may only remove finalizers" in added.stderr
    made = as_node("create", "-f", "-", input="""apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-by-node}
spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], hostPath: {path: /tmp/x}}
""")
    assert made.returncode != 0 and "forbidden" in made.stderr.lower()
    ok = as_node("patch", "pv", "pv-node-a", "--type=merge", "-p", drop)
    assert ok.returncode == 0, ok.stderr
    left = client.get("persistentvolumes", "pv-node-a")["metadata"]["finalizers"]
    assert DATA_FINALIZER not in left and "example.com/keep" in left
    for name in ("pv-node-a", "pv-node-b"):
        cp.kubectl("patch", "pv", name, "--type=merge", "-p", '{"metadata":{"finalizers":[]}}')
        cp.kubectl("delete", "pv", name)
