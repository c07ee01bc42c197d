"""Defaulting: the values upstream fills in, per kind, and idempotence."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kboot.controlplane.api.defaults import apply_defaults, image_pull_policy, qos_class
from kboot.controlplane.api.registry import KINDS


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


POD: dict[str, Any] = {"metadata": {"name": "p"}, "spec": {"containers": [
    {"name": "c", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
     "livenessProbe": {"httpGet": {"port": 80}},
     "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/drain"}}},
     "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}],
    "volumes": [{"name": "v", "configMap": {"name": "cm"}}]}}
ZEROED: dict[str, Any] = {"metadata": {"name": "p"}, "spec": {"containers": [
    {"name": "c", "image": "x", "ports": [{"containerPort": 80, "protocol": ""}],
     "readinessProbe": {"httpGet": {"port": 80, "path": "", "scheme": ""}, "periodSeconds": 0,
                        "successThreshold": 0, "initialDelaySeconds": 0}}]}}
TEMPLATE = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c",
                                                                         "image": "x"}]}}

CASES: list[tuple[str, dict[str, Any], str, Any]] = [
    ("Pod", POD, "spec.restartPolicy", "Always"),
    ("Pod", POD, "spec.dnsPolicy", "ClusterFirst"),
    ("Pod", POD, "spec.terminationGracePeriodSeconds", 30),
    ("Pod", POD, "spec.schedulerName", "default-scheduler"),
    ("Pod", POD, "spec.serviceAccountName", "default"),
    ("Pod", POD, "spec.containers.0.imagePullPolicy", "IfNotPresent"),
    ("Pod", POD, "spec.containers.0.terminationMessagePath", "/dev/termination-log"),
    ("Pod", POD, "spec.containers.0.terminationMessagePolicy", "File"),
    ("Pod", POD, "spec.containers.0.ports.0.protocol", "TCP"),
    ("Pod", POD, "spec.containers.0.livenessProbe.periodSeconds", 10),
    ("Pod", POD, "spec.containers.0.livenessProbe.timeoutSeconds", 1),
    ("Pod", POD, "spec.containers.0.livenessProbe.failureThreshold", 3),
    ("Pod", POD, "spec.containers.0.livenessProbe.httpGet.scheme", "HTTP"),
    ("Pod", POD, "spec.containers.0.livenessProbe.httpGet.path", "/"),
    ("Pod", POD, "spec.containers.0.lifecycle.preStop.httpGet.scheme", "HTTP"),
    ("Pod", POD, "spec.containers.0.lifecycle.preStop.httpGet.path", "/drain"),
    ("Pod", POD, "spec.containers.0.env.0.valueFrom.fieldRef.apiVersion", "v1"),
    ("Pod", POD, "spec.volumes.0.configMap.defaultMode", 420),
    ("Pod", POD, "status.phase", "Pending"),
    # Go defaulting: a zero value is "unset" (but initialDelaySeconds has no default)
    ("Pod", ZEROED, "spec.containers.0.ports.0.protocol", "TCP"),
    ("Pod", ZEROED, "spec.containers.0.readinessProbe.periodSeconds", 10),
    ("Pod", ZEROED, "spec.containers.0.readinessProbe.successThreshold", 1),
    ("Pod", ZEROED, "spec.containers.0.readinessProbe.initialDelaySeconds", 0),
    ("Pod", ZEROED, "spec.containers.0.readinessProbe.httpGet.path", "/"),
    ("Pod", ZEROED, "spec.containers.0.readinessProbe.httpGet.scheme", "HTTP"),
    ("Pod", POD, "status.qosClass", "BestEffort"),
    ("Service", {"spec": {"ports": [{"port": 80}]}}, "spec.type", "ClusterIP"),
    ("Service", {"spec": {"ports": [{"port": 80}]}}, "spec.sessionAffinity", "None"),
    ("Service", {"spec": {"ports": [{"port": 80}]}}, "spec.ports.0.targetPort", 80),
    ("Service", {"spec": {"ports": [{"port": 80}]}}, "spec.ports.0.protocol", "TCP"),
    ("Service", {"spec": {"ports": [{"port": 80, "targetPort": "http"}]}},
     "spec.ports.0.targetPort", "http"),
    ("Service", {"spec": {"type": "NodePort", "ports": [{"port": 80}]}},
     "spec.externalTrafficPolicy", "Cluster"),
    ("Deployment", {"spec": {"template": TEMPLATE}}, "spec.replicas", 1),
    ("Deployment", {"spec": {"template": TEMPLATE}}, "spec.strategy.type", "RollingUpdate"),
    ("Deployment", {"spec": {"template": TEMPLATE}}, "spec.strategy.rollingUpdate.maxSurge",
     "25%"),
    ("Deployment", {"spec": {"template": TEMPLATE}},
     "spec.strategy.rollingUpdate.maxUnavailable", "25%"),
    ("Deployment", {"spec": {"template": TEMPLATE}}, "spec.revisionHistoryLimit", 10),
    ("Deployment", {"spec": {"template": TEMPLATE}}, "spec.progressDeadlineSeconds", 600),
    ("Deployment", {"spec": {"template": TEMPLATE}}, "spec.template.spec.restartPolicy",
     "Always"),
    ("Deployment", {"spec": {"replicas": 0, "template": TEMPLATE}}, "spec.replicas", 0),
    ("ReplicaSet", {"spec": {"template": TEMPLATE}}, "spec.replicas", 1),
    ("StatefulSet", {"spec": {"template": TEMPLATE}}, "spec.podManagementPolicy",
     "OrderedReady"),
    ("StatefulSet", {"spec": {"template": TEMPLATE}}, "spec.updateStrategy.type",
     "RollingUpdate"),
    ("StatefulSet", {"spec": {"template": TEMPLATE}},
     "spec.updateStrategy.rollingUpdate.partition", 0),
    ("DaemonSet", {"spec": {"template": TEMPLATE}}, "spec.updateStrategy.type", "RollingUpdate"),
    ("DaemonSet", {"spec": {"template": TEMPLATE}},
     "spec.updateStrategy.rollingUpdate.maxUnavailable", 1),
    ("Job", {"spec": {"template": TEMPLATE}}, "spec.completions", 1),
    ("Job", {"spec": {"template": TEMPLATE}}, "spec.parallelism", 1),
    ("Job", {"spec": {"template": TEMPLATE}}, "spec.backoffLimit", 6),
    ("Job", {"spec": {"template": TEMPLATE}}, "spec.completionMode", "NonIndexed"),
    ("Job", {"spec": {"parallelism": 3, "template": TEMPLATE}}, "spec.parallelism", 3),
    ("Job", {"metadata": {"name": "j", "uid": "u1"}, "spec": {"template": TEMPLATE}},
     "spec.selector.matchLabels.batch\\.kubernetes\\.io/controller-uid", "u1"),
    ("Secret", {}, "type", "Opaque"),
    ("Secret", {"type": "kubernetes.io/tls"}, "type", "kubernetes.io/tls"),
    ("Namespace", {}, "status.phase", "Active"),
    ("Namespace", {}, "spec.finalizers", ["kubernetes"]),
    ("PersistentVolumeClaim", {"spec": {}}, "spec.volumeMode", "Filesystem"),
    ("PersistentVolume", {"spec": {}}, "spec.persistentVolumeReclaimPolicy", "Retain"),
    ("RoleBinding", {"subjects": [{"kind": "User", "name": "u"}]}, "subjects.0.apiGroup",
     "rbac.authorization.k8s.io"),
]


def _lookup(obj: Any, path: str) -> Any:
    if "\\." in path:  # a label key with dots: spec.selector.matchLabels.<key>
        head, _, key = path.partition(".matchLabels.")
        return _get(obj, head + ".matchLabels")[key.replace("\\.", ".")]
    return _get(obj, path)


@pytest.mark.parametrize(("kind", "obj", "path", "expected"), CASES)
def test_default(kind: str, obj: dict[str, Any], path: str, expected: Any) -> None:
    before = copy.deepcopy(obj)
    out = apply_defaults(kind, obj)
    assert _lookup(out, path) == expected
    assert obj == before  # pure
    assert apply_defaults(kind, out) == out  # idempotent


def test_job_selector_labels_template() -> None:
    out = apply_defaults("Job", {"metadata": {"name": "j", "uid": "u1"},
                                 "spec": {"template": copy.deepcopy(TEMPLATE)}})
    labels = out["spec"]["template"]["metadata"]["labels"]
    assert labels["job-name"] == "j" and labels["batch.kubernetes.io/controller-uid"] == "u1"
    manual = apply_defaults("Job", {"metadata": {"uid": "u"}, "spec": {
        "manualSelector": True, "template": copy.deepcopy(TEMPLATE)}})
    assert "selector" not in manual["spec"]


def test_existing_values_win() -> None:
    pod = {"spec": {"restartPolicy": "Never", "containers": [
        {"name": "c", "image": "x", "imagePullPolicy": "Never"}]}}
    out = apply_defaults("Pod", pod)
    assert out["spec"]["restartPolicy"] == "Never"
    assert out["spec"]["containers"][0]["imagePullPolicy"] == "Never"


@pytest.mark.parametrize(
    ("image", "policy"),
    [("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.2", "IfNotPresent"),
     ("localhost:5000/nginx", "Always"), ("localhost:5000/nginx:v1", "IfNotPresent"),
     ("nginx@sha256:abc", "IfNotPresent"), ("registry.example/a/b:latest", "Always")],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


@pytest.mark.parametrize(
    ("resources", "qos"),
    [([{}], "BestEffort"),
     ([{"requests": {"cpu": "1"}}], "Burstable"),
     ([{"limits": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
     ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}], "Burstable"),
     ([{"limits": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable")],
)
def test_qos_class(resources: list[dict[str, Any]], qos: str) -> None:
    spec = {"containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(resources)]}
    assert qos_class(spec) == qos


@pytest.mark.parametrize("kind", [k.kind for k in KINDS])
def test_every_kind_defaults_an_empty_object(kind: str) -> None:
    out = apply_defaults(kind, {"metadata": {"name": "x"}})
    labels = {"labels": {"kubernetes.io/metadata.name": "x"}} if kind == "Namespace" else {}
    assert out["metadata"] == {"name": "x", **labels}
    assert apply_defaults(kind, out) == out


def test_namespace_name_label_is_forced_to_the_name() -> None:
    out = apply_defaults("Namespace", {"metadata": {"name": "team-a", "labels": {
        "kubernetes.io/metadata.name": "forged", "env": "prod"}}})
    assert out["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a", "env": "prod"}
    # generateName-only bodies are defaulted again once the server has picked the name
    assert "labels" not in apply_defaults("Namespace", {"metadata": {"generateName": "x-"}})[
        "metadata"]
