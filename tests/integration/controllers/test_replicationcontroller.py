"""ReplicationController end to end with the real kubectl: defaults from the template, pods
kept at ``spec.replicas`` by the controller, ``kubectl get rc`` columns, ``kubectl scale``
through the scale subresource, and a cascading delete."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from kboot.controlplane.client.sync import SyncClient
from tests.fixtures.apiserver import ApiServer, start_apiserver

from .cluster import ControlPlane, running_pods, wait_for

pytestmark = pytest.mark.integration

RC = """apiVersion: v1
kind: ReplicationController
metadata: {name: mock}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: mock}}
    spec: {containers: [{name: c, image: "nginx:1"}]}
"""


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with start_apiserver("memory://") as srv:
        yield srv


def test_replication_controller_runs_scales_prints_and_cascades(
        cp: ControlPlane, client: SyncClient) -> None:
    cp.kubectl("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata:\n"
                                          "  name: rc\n")
    cp.kubectl("apply", "-n", "rc", "-f", "-", input=RC)
    rc = json.loads(cp.kubectl("get", "rc", "mock", "-n", "rc", "-o", "json"))
    assert rc["spec"]["selector"] == {"app": "mock"}  # defaulted from the template's labels
    assert rc["metadata"]["labels"] == {"app": "mock"}
    wait_for("2 rc pods running", lambda: len(running_pods(client, "rc", "app=mock")) == 2,
             cp=cp)
    owners = {p["metadata"]["ownerReferences"][0]["kind"]
              for p in running_pods(client, "rc", "app=mock")}
    assert owners == {"ReplicationController"}
    wait_for("status.readyReplicas 2", lambda: (client.get(
        "replicationcontrollers", "mock", namespace="rc").get("status") or {}
    ).get("readyReplicas") == 2, cp=cp)
    table = cp.kubectl("get", "rc", "-n", "rc", "-o", "wide").splitlines()
    assert table[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS",
                                "IMAGES", "SELECTOR"]
    assert table[1].split()[:4] == ["mock", "2", "2", "2"]
    assert table[1].split()[-1] == "app=mock"
    cp.kubectl("scale", "rc", "mock", "-n", "rc", "--replicas=3")
    scale = json.loads(cp.kubectl("get", "--raw",
                                  "/api/v1/namespaces/rc/replicationcontrollers/mock/scale"
                                  ))
    assert scale["spec"]["replicas"] == 3
    wait_for("3 rc pods running", lambda: len(running_pods(client, "rc", "app=mock")) == 3,
             cp=cp)
    assert json.loads(cp.kubectl("get", "--raw", "/api/v1/namespaces/rc/replicationcontrollers"
                                 "/mock/scale"))["status"]["selector"] == "app=mock"
    cp.kubectl("delete", "rc", "mock", "-n", "rc")
    wait_for("rc pods gone", lambda: not client.list("pods", namespace="rc",
                                                     label_selector="app=mock"), cp=cp)


def test_a_selector_not_matching_the_template_is_422(cp: ControlPlane) -> None:
    bad = RC.replace("spec:\n  replicas: 2", "spec:\n  replicas: 2\n  selector: {app: other}")
    proc = cp.server.kubectl("apply", "-n", "default", "-f", "-", input=bad)
    assert proc.returncode == 1
    assert ('ReplicationController "mock" is invalid: spec.template.metadata.labels: '
            'Invalid value: {"app": "mock"}: `selector` does not match template `labels`'
            in proc.stderr), proc.stderr
