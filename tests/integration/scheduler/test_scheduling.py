"""The scheduler against a real apiserver with hollow nodes: placement by nodeSelector and
taints, and FailedScheduling events that say why, as ``kubectl describe`` shows them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kboot.controlplane.client.sync import SyncClient
from tests.fixtures.apiserver import start_apiserver
from tests.integration.controllers.cluster import ControlPlane, control_plane, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cp() -> Iterator[tuple[ControlPlane, SyncClient]]:
    with start_apiserver("sqlite") as srv, control_plane(srv, nodes=2) as plane, \
            SyncClient.from_kubeconfig(srv.kubeconfig) as client:
        yield plane, client


def pod(name: str, *, cpu: str = "100m", node_selector: str = "") -> str:
    selector = f"\n  nodeSelector: {{{node_selector}}}" if node_selector else ""
    return f"""apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default}}
spec:{selector}
  containers:
  - name: c
    image: nginx
    resources: {{requests: {{cpu: "{cpu}"}}}}
"""


def test_unschedulable_pod_gets_a_clear_failed_scheduling_event(
        cp: tuple[ControlPlane, SyncClient]) -> None:
    plane, client = cp
    wait_for("2 nodes", lambda: len(client.list("nodes")) == 2, cp=plane)
    plane.kubectl("taint", "nodes", "hollow-0", "dedicated=gpu:NoSchedule")
    plane.kubectl("apply", "-f", "-", input=pod("huge", cpu="64"))

    def failed() -> str | None:
        events = client.list("events", namespace="default",
                             field_selector="involvedObject.name=huge")
        found = [e for e in events if e["reason"] == "FailedScheduling"]
        return str(found[-1]["message"]) if found else None

    message = wait_for("FailedScheduling", failed, cp=plane)
    assert message == ("0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had "
                       "untolerated taint {dedicated: gpu}.")
    described = plane.kubectl("describe", "pod", "huge")
    assert "FailedScheduling" in described and "Insufficient cpu" in described
    assert not client.get("pods", "huge", namespace="default")["spec"].get("nodeName")

    # a pod that fits lands on the untainted node; removing the taint lets nodeSelector win
    plane.kubectl("apply", "-f", "-", input=pod("small"))
    wait_for("small bound", lambda: client.get("pods", "small", namespace="default")[
        "spec"].get("nodeName"), cp=plane)
    assert client.get("pods", "small", namespace="default")["spec"]["nodeName"] == "hollow-1"
    plane.kubectl("taint", "nodes", "hollow-0", "dedicated-")
    plane.kubectl("apply", "-f", "-",
                  input=pod("pinned", node_selector="kubernetes.io/hostname: hollow-0"))
    node = wait_for("pinned bound", lambda: client.get("pods", "pinned", namespace="default")[
        "spec"].get("nodeName"), cp=plane)
    assert node == "hollow-0"


def test_kubectl_drain_moves_pods_off_a_cordoned_node(
        cp: tuple[ControlPlane, SyncClient]) -> None:
    plane, client = cp
    plane.kubectl("apply", "-f", "-", input="""apiVersion: apps/v1
kind: Deployment
metadata: {name: drained, namespace: default}
spec:
  replicas: 4
  selector: {matchLabels: {app: drained}}
  template:
    metadata: {labels: {app: drained}}
    spec: {containers: [{name: c, image: nginx}]}
""")

    def running() -> list[dict[str, object]]:
        return [p for p in client.list("pods", namespace="default", label_selector="app=drained")
                if p.get("status", {}).get("phase") == "Running"
                and not p["metadata"].get("deletionTimestamp")]

    wait_for("4 running", lambda: len(running()) == 4, cp=plane)
    plane.kubectl("drain", "hollow-1", "--ignore-daemonsets", "--force", "--timeout=60s",
                  "--grace-period=1")
    assert client.get("nodes", "hollow-1")["spec"].get("unschedulable") is True
    wait_for("all 4 on hollow-0", lambda: len(running()) == 4 and all(
        p["spec"]["nodeName"] == "hollow-0" for p in running()), cp=plane)  # type: ignore[index]
    plane.kubectl("uncordon", "hollow-1")
    plane.kubectl("delete", "deploy/drained")
