"""Pod spec validation through the real HTTP API: a bad probe is a 422 whose causes carry
upstream's fields and messages, for pods and pod templates alike, as kubectl prints it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.apiserver import ApiServer
from tests.integration.apiserver.http import call

pytestmark = [pytest.mark.integration,
              pytest.mark.parametrize("server", ["sqlite"], indirect=True)]

BAD_PROBE = {"livenessProbe": {"tcpSocket": {"port": 8080}, "httpGet": {"port": 8080},
                               "successThreshold": 2},
             "readinessProbe": {"periodSeconds": -1}}
GOOD_PROBE = {"livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
              "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 2},
              "ports": [{"name": "http", "containerPort": 8080}]}


def _pod(name: str, probes: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox", **probes}]}}


def test_a_bad_probe_is_422_with_upstreams_causes(server: ApiServer, namespace: str) -> None:
    reply = call(server, "POST", f"/api/v1/namespaces/{namespace}/pods", _pod("bad", BAD_PROBE))
    assert reply.status == 422 and reply.body["reason"] == "Invalid", reply.body
    live, ready = "spec.containers[0].livenessProbe", "spec.containers[0].readinessProbe"
    assert reply.body["details"]["causes"] == [
        {"reason": "FieldValueForbidden", "field": f"{live}.tcpSocket",
         "message": "Forbidden: may not specify more than 1 handler type"},
        {"reason": "FieldValueInvalid", "field": f"{live}.successThreshold",
         "message": "Invalid value: 2: must be 1"},
        {"reason": "FieldValueRequired", "field": ready,
         "message": "Required value: must specify a handler type"},
        {"reason": "FieldValueInvalid", "field": f"{ready}.periodSeconds",
         "message": "Invalid value: -1: must be greater than or equal to 0"}]
    assert call(server, "GET", f"/api/v1/namespaces/{namespace}/pods/bad").status == 404


def test_kubectl_prints_the_probe_error(server: ApiServer, namespace: str) -> None:
    manifest = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: once\nspec:\n  containers:\n"
                "  - name: c\n    image: busybox\n    startupProbe:\n"
                "      exec: {command: [\"true\"]}\n      successThreshold: 2\n")
    proc = server.kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    assert proc.returncode == 1
    assert ('The Pod "once" is invalid: spec.containers[0].startupProbe.successThreshold: '
            "Invalid value: 2: must be 1") in proc.stderr


def test_templates_get_the_same_rules(server: ApiServer, namespace: str) -> None:
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {
                  "metadata": {"labels": {"app": "d"}},
                  "spec": _pod("x", {"readinessProbe": {"grpc": {"port": 0}}})["spec"]}}}
    reply = call(server, "POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", deploy)
    assert reply.status == 422, reply.body
    assert [(c["field"], c["message"]) for c in reply.body["details"]["causes"]] == [
        ("spec.template.spec.containers[0].readinessProbe.grpc.port",
         "Invalid value: 0: must be between 1 and 65535, inclusive")]


def test_good_probes_are_stored_and_stay_immutable(server: ApiServer, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    created = call(server, "POST", path, _pod("good", GOOD_PROBE))
    assert created.status == 201, created.body
    probe = created.body["spec"]["containers"][0]["livenessProbe"]
    assert probe["successThreshold"] == 1 and probe["httpGet"]["scheme"] == "HTTP"
    changed = created.body
    changed["spec"]["containers"][0]["livenessProbe"]["periodSeconds"] = 99
    reply = call(server, "PUT", f"{path}/good", changed)
    assert reply.status == 422
    assert "pod updates may not change fields" in reply.body["message"]
