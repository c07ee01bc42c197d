"""Workload controllers end to end: real etcd + apiserver + controller-manager + scheduler +
hollow nodes, driven with the real kubectl."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from kboot.controlplane.client.sync import SyncClient
from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.fixtures.etcd import start_etcd

from .cluster import ControlPlane, record_pod_order, running_pods, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with start_etcd() as etcd, start_apiserver(etcd.url) as srv:
        yield srv


def namespace(cp: ControlPlane, name: str) -> str:
    cp.kubectl("apply", "-f", "-",
               input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
    return name


def deployment(name: str, replicas: int, image: str = "nginx:1", *, surge: int = 1,
               unavailable: int = 0) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: {surge}, maxUnavailable: {unavailable}}}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: c, image: "{image}"}}]}}
"""


def images(client: SyncClient, ns: str, app: str) -> set[str]:
    return {p["spec"]["containers"][0]["image"] for p in running_pods(client, ns, f"app={app}")}


def test_deployment_runs_spreads_rolls_undoes_scales_and_cascades(
        cp: ControlPlane, client: SyncClient) -> None:
    ns = namespace(cp, "deploy")
    cp.kubectl("apply", "-n", ns, "-f", "-", input=deployment("web", 3))
    def three_running() -> list[dict[str, Any]] | None:
        pods = running_pods(client, ns, "app=web")
        return pods if len(pods) == 3 else None

    pods = wait_for("3 running pods", three_running, cp=cp)
    assert len({p["spec"]["nodeName"] for p in pods}) == 3  # spread over the 3 nodes
    assert all(p["status"]["podIP"].startswith("10.244.") for p in pods)
    cp.kubectl("rollout", "status", "-n", ns, "deploy/web", "--timeout=90s")
    row = cp.kubectl("get", "-n", ns, "deploy/web", "--no-headers").split()
    assert row[1:4] == ["3/3", "3", "3"]  # READY, UP-TO-DATE, AVAILABLE

    # rolling update: never fewer than replicas - maxUnavailable (0) ready pods
    lowest: list[int] = []
    stop = threading.Event()

    def watch_ready() -> None:
        while not stop.is_set():
            lowest.append(len(running_pods(client, ns, "app=web")))
            stop.wait(0.1)

    watcher = threading.Thread(target=watch_ready)
    watcher.start()
    try:
        cp.kubectl("set", "image", "-n", ns, "deploy/web", "c=nginx:2")
        cp.kubectl("rollout", "status", "-n", ns, "deploy/web", "--timeout=120s")
    finally:
        stop.set()
        watcher.join()
    assert min(lowest) >= 3
    wait_for("only nginx:2", lambda: images(client, ns, "web") == {"nginx:2"}, cp=cp)
    history = cp.kubectl("rollout", "history", "-n", ns, "deploy/web")
    assert "1 " in history and "2 " in history

    cp.kubectl("rollout", "undo", "-n", ns, "deploy/web")
    cp.kubectl("rollout", "status", "-n", ns, "deploy/web", "--timeout=120s")
    wait_for("nginx:1 restored", lambda: images(client, ns, "web") == {"nginx:1"}, cp=cp)
    assert len(client.list("replicasets", namespace=ns)) == 2  # the old set was reused

    for n in (10, 0):
        cp.kubectl("scale", "-n", ns, "deploy/web", f"--replicas={n}")
        wait_for(f"{n} pods", lambda n=n: len(client.list(  # type: ignore[misc]
            "pods", namespace=ns, label_selector="app=web")) == n or None, cp=cp)
    cp.kubectl("scale", "-n", ns, "deploy/web", "--replicas=2")
    wait_for("2 running", lambda: len(running_pods(client, ns, "app=web")) == 2, cp=cp)
    cp.kubectl("delete", "-n", ns, "deploy/web")
    wait_for("pods and replicasets garbage-collected",
             lambda: not client.list("pods", namespace=ns)
             and not client.list("replicasets", namespace=ns), cp=cp)


# the default class ``kboot up`` installs: claims without a class get it (a pod whose claim
# cannot be bound is never scheduled)
STATEFULSET = """apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-path
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kboot.io/local-path
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 2
  selector: {matchLabels: {app: sts}}
  template:
    metadata: {labels: {app: sts}}
    spec: {containers: [{name: c, image: nginx}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"""


def test_statefulset_orders_creation_and_deletion_with_claims(
        cp: ControlPlane, client: SyncClient) -> None:
    ns = namespace(cp, "sts")
    seen: list[tuple[str, str]] = []
    stop = threading.Event()
    watcher = record_pod_order(client, ns, stop, seen)
    try:
        cp.kubectl("apply", "-n", ns, "-f", "-", input=STATEFULSET)
        wait_for("web-0 and web-1 running",
                 lambda: len(running_pods(client, ns, "app=sts")) == 2, cp=cp)
        cp.kubectl("rollout", "status", "-n", ns, "sts/web", "--timeout=90s")
        claims = sorted(c["metadata"]["name"]
                        for c in client.list("persistentvolumeclaims", namespace=ns))
        assert claims == ["data-web-0", "data-web-1"]
        pod1 = client.get("pods", "web-1", namespace=ns)
        assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}} in \
            pod1["spec"]["volumes"]
        cp.kubectl("scale", "-n", ns, "sts/web", "--replicas=0")
        wait_for("all gone", lambda: not client.list("pods", namespace=ns), cp=cp)
    finally:
        stop.set()
        watcher.join()
    assert [e for e in seen if e[0] == "ADDED"] == [("ADDED", "web-0"), ("ADDED", "web-1")], seen
    assert [e for e in seen if e[0] == "DELETED"] == [("DELETED", "web-1"),
                                                      ("DELETED", "web-0")], seen


DAEMONSET = """apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: c, image: busybox}]}
"""


def test_daemonset_lands_on_a_node_added_later(cp: ControlPlane, client: SyncClient) -> None:
    ns = namespace(cp, "ds")
    cp.kubectl("apply", "-n", ns, "-f", "-", input=DAEMONSET)
    wait_for("one agent per node", lambda: len(running_pods(client, ns, "app=agent")) == 3,
             cp=cp)
    cp.hollow("late", 1, "late-")
    try:
        pods = wait_for("agent on late-0", lambda: [
            p for p in running_pods(client, ns, "app=agent")
            if p["spec"]["nodeName"] == "late-0"], cp=cp)
        assert len(pods) == 1
        cp.kubectl("rollout", "status", "-n", ns, "ds/agent", "--timeout=90s")
    finally:
        cp.stop("late")
        cp.kubectl("delete", "node", "late-0")
    wait_for("late-0's pod collected", lambda: len(client.list(
        "pods", namespace=ns, label_selector="app=agent")) == 3, cp=cp)
    cp.kubectl("set", "image", "-n", ns, "ds/agent", "c=busybox:2")
    cp.kubectl("rollout", "status", "-n", ns, "ds/agent", "--timeout=120s")
    wait_for("busybox:2 everywhere", lambda: images(client, ns, "agent") == {"busybox:2"}
             and len(running_pods(client, ns, "app=agent")) == 3, cp=cp)
    assert "2 " in cp.kubectl("rollout", "history", "-n", ns, "ds/agent")
    cp.kubectl("rollout", "undo", "-n", ns, "ds/agent")
    wait_for("busybox back", lambda: images(client, ns, "agent") == {"busybox"}
             and len(running_pods(client, ns, "app=agent")) == 3, timeout=60, cp=cp)
    cp.kubectl("delete", "-n", ns, "ds/agent")


def job(name: str, completions: int, parallelism: int, *, exit_code: int = 0,
        backoff: int = 6) -> str:
    return f"""apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  completions: {completions}
  parallelism: {parallelism}
  backoffLimit: {backoff}
  template:
    metadata:
      annotations: {{kboot.io/hollow-exit-code: "{exit_code}", kboot.io/hollow-run-seconds: "1"}}
    spec:
      restartPolicy: Never
      containers: [{{name: c, image: busybox, command: [sh, -c, "exit {exit_code}"]}}]
"""


def _condition(client: SyncClient, ns: str, name: str) -> dict[str, Any] | None:
    conds = (client.get("jobs", name, namespace=ns).get("status") or {}).get("conditions")
    return next((c for c in conds or [] if c.get("status") == "True"), None)


def test_job_completes_and_failing_job_stops_at_backoff_limit(
        cp: ControlPlane, client: SyncClient) -> None:
    ns = namespace(cp, "jobs")
    active: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            active.append(len(running_pods(client, ns, "job-name=ok")))
            stop.wait(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        cp.kubectl("apply", "-n", ns, "-f", "-", input=job("ok", 5, 2))
        cp.kubectl("apply", "-n", ns, "-f", "-", input=job("bad", 1, 1, exit_code=1, backoff=2))
        done = wait_for("ok complete", lambda: _condition(client, ns, "ok"), timeout=90, cp=cp)
    finally:
        stop.set()
        watcher.join()
    assert done["type"] == "Complete"
    assert max(active) <= 2
    assert client.get("jobs", "ok", namespace=ns)["status"]["succeeded"] == 5
    failed = wait_for("bad failed", lambda: _condition(client, ns, "bad"), timeout=90, cp=cp)
    assert (failed["type"], failed["reason"]) == ("Failed", "BackoffLimitExceeded")
    status = client.get("jobs", "bad", namespace=ns)["status"]
    assert status["failed"] == 3
    pods = client.list("pods", namespace=ns, label_selector="job-name=bad")
    assert len(pods) == 3 and all(p["status"]["phase"] == "Failed" for p in pods)


SERVICE = """apiVersion: v1
kind: Service
metadata: {name: svc}
spec:
  selector: {app: svc}
  ports: [{name: http, port: 80, targetPort: 8080}]
"""


def test_endpoints_foreground_cascade_and_namespace_deletion(
        cp: ControlPlane, client: SyncClient) -> None:
    ns = namespace(cp, "svc")
    cp.kubectl("apply", "-n", ns, "-f", "-", input=SERVICE)
    cp.kubectl("apply", "-n", ns, "-f", "-", input=deployment("svc", 2))
    pods = wait_for("2 running", lambda: (len(p := running_pods(client, ns, "app=svc")) == 2
                                          and p) or None, cp=cp)

    def addresses() -> list[str] | None:
        ep = client.get_or_none("endpoints", "svc", namespace=ns)
        subsets = (ep or {}).get("subsets") or []
        ips = sorted(a["ip"] for s in subsets for a in s.get("addresses") or [])
        return ips if len(ips) == 2 else None

    assert wait_for("endpoints", addresses, cp=cp) == sorted(p["status"]["podIP"] for p in pods)
    ep = client.get("endpoints", "svc", namespace=ns)
    assert ep["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    slices = client.list("endpointslices", namespace=ns,
                         label_selector="kubernetes.io/service-name=svc")
    assert len(slices) == 1 and len(slices[0]["endpoints"]) == 2

    cp.kubectl("rollout", "restart", "-n", ns, "deploy/svc")
    cp.kubectl("rollout", "status", "-n", ns, "deploy/svc", "--timeout=120s")
    restarted = {p["metadata"]["name"] for p in running_pods(client, ns, "app=svc")}
    assert restarted and not restarted & {p["metadata"]["name"] for p in pods}

    cp.kubectl("delete", "-n", ns, "deploy/svc", "--cascade=foreground", "--wait=false")
    dep = client.get_or_none("deployments", "svc", namespace=ns)
    assert dep is None or "foregroundDeletion" in dep["metadata"].get("finalizers", [])
    wait_for("foreground delete done", lambda: client.get_or_none(
        "deployments", "svc", namespace=ns) is None and not client.list(
        "pods", namespace=ns), cp=cp)
    wait_for("endpoints emptied", lambda: not (client.get("endpoints", "svc", namespace=ns)
                                               .get("subsets")), cp=cp)

    cp.kubectl("apply", "-n", ns, "-f", "-", input=deployment("left", 1))
    wait_for("1 running", lambda: len(running_pods(client, ns, "app=left")) == 1, cp=cp)
    cp.kubectl("delete", "namespace", ns, "--wait=false")
    wait_for("namespace gone", lambda: client.get_or_none("namespaces", ns) is None,
             timeout=90, cp=cp)
    assert not client.list("pods", namespace=ns)
