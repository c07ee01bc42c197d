"""Storage protection and the root-CA publisher end to end: real etcd + apiserver +
controller-manager + scheduler + hollow nodes, driven with the real kubectl."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kboot.controlplane.client.errors import NotFound
from kboot.controlplane.client.sync import SyncClient
from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.fixtures.etcd import start_etcd

from .cluster import ControlPlane, running_pods, wait_for

pytestmark = pytest.mark.integration
PVC_PROTECTION = "kubernetes.io/pvc-protection"


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with start_etcd() as etcd, start_apiserver(etcd.url) as srv:
        yield srv


def claim(name: str, namespace: str, finalizers: str = "[]") -> str:
    """A claim and a volume made for it (a pod with an unbound claim is never scheduled)."""
    return f"""apiVersion: v1
kind: PersistentVolume
metadata: {{name: pv-{namespace}-{name}}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  hostPath: {{path: /tmp/pv-{namespace}-{name}}}
  claimRef: {{namespace: {namespace}, name: {name}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: {name}, finalizers: {finalizers}}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  resources: {{requests: {{storage: 1Gi}}}}
"""


def pod_using(name: str, claim_name: str) -> str:
    return f"""apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  containers: [{{name: c, image: "nginx:1"}}]
  volumes: [{{name: data, persistentVolumeClaim: {{claimName: {claim_name}}}}}]
"""


def gone(client: SyncClient, ref: str, name: str, namespace: str | None = None) -> bool:
    try:
        client.get(ref, name, namespace=namespace)
    except NotFound:
        return True
    return False


def test_a_namespace_holding_a_protected_claim_is_deleted_completely(
        cp: ControlPlane, client: SyncClient) -> None:
    cp.kubectl("create", "namespace", "claims")
    # the finalizer a real cluster's admission puts on every claim: nothing used to remove it
    cp.kubectl("apply", "-n", "claims", "-f", "-",
               input=claim("data", "claims", f"[{PVC_PROTECTION}]"))
    cp.kubectl("apply", "-n", "claims", "-f", "-", input=pod_using("user", "data"))
    wait_for("pod running", lambda: running_pods(client, "claims", "app=user"), cp=cp)
    cp.kubectl("delete", "namespace", "claims", "--wait=false")
    wait_for("namespace gone", lambda: gone(client, "namespaces", "claims"), timeout=90, cp=cp)


def test_a_claim_in_use_is_kept_until_its_pod_is_gone(
        cp: ControlPlane, client: SyncClient) -> None:
    ns = "inuse"
    cp.kubectl("create", "namespace", ns)
    cp.kubectl("apply", "-n", ns, "-f", "-", input=claim("db", ns))
    wait_for("finalizer added", lambda: PVC_PROTECTION in (client.get(
        "persistentvolumeclaims", "db", namespace=ns)["metadata"].get("finalizers") or []),
        cp=cp)
    cp.kubectl("apply", "-n", ns, "-f", "-", input=pod_using("db", "db"))
    wait_for("pod running", lambda: running_pods(client, ns, "app=db"), cp=cp)
    cp.kubectl("delete", "pvc", "db", "-n", ns, "--wait=false")
    # a claim deleted after this one, unused, goes: the controller has had its turn
    cp.kubectl("apply", "-n", ns, "-f", "-", input=claim("probe", ns))
    wait_for("probe protected", lambda: PVC_PROTECTION in (client.get(
        "persistentvolumeclaims", "probe", namespace=ns)["metadata"].get("finalizers") or []),
        cp=cp)
    cp.kubectl("delete", "pvc", "probe", "-n", ns)
    kept = client.get("persistentvolumeclaims", "db", namespace=ns)
    assert kept["metadata"]["deletionTimestamp"]
    assert PVC_PROTECTION in kept["metadata"]["finalizers"]

    cp.kubectl("delete", "pod", "db", "-n", ns)
    wait_for("claim released", lambda: gone(client, "persistentvolumeclaims", "db", ns), cp=cp)
    cp.kubectl("delete", "namespace", ns, "--wait=false")


def test_a_bound_volume_is_protected(cp: ControlPlane, client: SyncClient) -> None:
    cp.kubectl("apply", "-f", "-", input="""apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-protected}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  hostPath: {path: /tmp/pv-protected}
""")
    wait_for("pv finalizer", lambda: "kubernetes.io/pv-protection" in (client.get(
        "persistentvolumes", "pv-protected")["metadata"].get("finalizers") or []), cp=cp)
    cp.kubectl("delete", "pv", "pv-protected")  # Available, not bound: goes at once
    assert gone(client, "persistentvolumes", "pv-protected")


def root_ca_map(client: SyncClient, ns: str) -> dict[str, Any] | None:
    try:
        cm = client.get("configmaps", "kube-root-ca.crt", namespace=ns)
    except NotFound:
        return None
    return cm if not cm["metadata"].get("deletionTimestamp") else None


def test_kube_root_ca_is_published_and_restored(cp: ControlPlane, client: SyncClient,
                                                server: ApiServer) -> None:
    ca = server.ca_file.read_text()
    cp.kubectl("create", "namespace", "ca-check")
    first = wait_for("kube-root-ca.crt", lambda: root_ca_map(client, "ca-check"), cp=cp)
    assert first["data"] == {"ca.crt": ca}
    assert root_ca_map(client, "default") is not None

    cp.kubectl("delete", "configmap", "kube-root-ca.crt", "-n", "ca-check")
    again = wait_for("recreated", lambda: root_ca_map(client, "ca-check"), cp=cp)
    assert again["metadata"]["uid"] != first["metadata"]["uid"]

    cp.kubectl("patch", "configmap", "kube-root-ca.crt", "-n", "ca-check", "--type=merge",
               "-p", '{"data": {"ca.crt": "tampered"}}')
    wait_for("restored", lambda: (root_ca_map(client, "ca-check") or {}).get("data") == {
        "ca.crt": ca}, cp=cp)
    cp.kubectl("delete", "namespace", "ca-check", "--wait=false")
