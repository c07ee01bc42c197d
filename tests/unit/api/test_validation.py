"""Validation: each case is (kind, object, expected error strings); objects are defaulted first,
as the apiserver does."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kboot.controlplane.api.defaults import apply_defaults
from kboot.controlplane.api.field_errors import invalid_message
from kboot.controlplane.api.validation import (
    loads_checking_duplicates,
    unknown_fields,
    validate,
)


def meta(name: str = "x", ns: str | None = "default", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, **extra}
    if ns:
        out["namespace"] = ns
    return out


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    conts = list(containers) or [{"name": "c", "image": "nginx"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta("p"),
            "spec": {"containers": conts, **spec}}


def template(labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": labels if labels is not None else {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec}}


def workload(kind: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"selector": {"matchLabels": {"app": "a"}}, "template": template()}
    if kind == "StatefulSet":
        base["serviceName"] = "svc"
    return {"metadata": meta("w"), "spec": {**base, **spec}}


def svc(**spec: Any) -> dict[str, Any]:
    return {"metadata": meta("web"), "spec": {"ports": [{"port": 80}], **spec}}


VALID: list[tuple[str, dict[str, Any]]] = [
    ("Pod", pod()),
    ("Pod", pod({"name": "c", "image": "x", "volumeMounts": [{"name": "v", "mountPath": "/d"}]},
                volumes=[{"name": "v", "emptyDir": {}}])),
    ("Deployment", workload("Deployment")),
    ("ReplicaSet", workload("ReplicaSet")),
    ("StatefulSet", workload("StatefulSet")),
    # a mount may name a volumeClaimTemplate: the controller adds the claim's volume
    ("StatefulSet", workload("StatefulSet", template={
        **template(), "spec": {"containers": [{"name": "c", "image": "x", "volumeMounts": [
            {"name": "data", "mountPath": "/data"}]}]}},
        volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}])),
    ("DaemonSet", workload("DaemonSet")),
    ("Pod", pod({"name": "c", "image": "nginx", "ports": [{"name": "web", "containerPort": 80}],
                 "lifecycle": {"postStart": {"httpGet": {"port": "web"}},
                               "preStop": {"sleep": {"seconds": 30}}}})),
    ("Pod", pod({"name": "c", "image": "nginx", "lifecycle": {
        "postStart": {"exec": {"command": ["true"]}}, "preStop": {"tcpSocket": {"port": 80}}}})),
    ("Job", {"metadata": meta("j", uid="u"), "spec": {"template": template(
        restartPolicy="Never")}}),
    ("Service", svc()),
    ("Service", svc(ports=[], clusterIP="None")),
    ("Service", {"metadata": meta("ext"), "spec": {"type": "ExternalName",
                                                   "externalName": "example.com"}}),
    ("ConfigMap", {"metadata": meta("cm"), "data": {"a.txt": "x", "B_2": "y"}}),
    ("Secret", {"metadata": meta("s"), "data": {"k": "aGVsbG8="}}),
    ("Namespace", {"metadata": meta("team-a", ns=None)}),
    ("Node", {"metadata": meta("node-1.example", ns=None)}),
    ("ClusterRole", {"metadata": meta("system:admin", ns=None),
                     "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
    ("RoleBinding", {"metadata": meta("rb"), "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "name": "u"}]}),
    ("Ingress", {"metadata": meta("ing"), "spec": {"rules": [{"http": {"paths": [
        {"path": "/", "pathType": "Prefix",
         "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
    ("PersistentVolumeClaim", {"metadata": meta("c"), "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
    ("PersistentVolume", {"metadata": meta("pv", ns=None), "spec": {
        "capacity": {"storage": 5}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/x"}}}),
    ("Lease", {"metadata": meta("n1"), "spec": {"holderIdentity": "n1",
                                               "leaseDurationSeconds": 40,
                                               "renewTime": "2024-01-01T00:00:00.000000Z"}}),
    ("EndpointSlice", {"metadata": meta("es"), "addressType": "IPv4",
                       "endpoints": [{"addresses": ["10.0.0.1"]}]}),
]


@pytest.mark.parametrize(("kind", "obj"), VALID)
def test_valid_objects(kind: str, obj: dict[str, Any]) -> None:
    assert [str(e) for e in validate(kind, apply_defaults(kind, obj))] == []


INVALID: list[tuple[str, dict[str, Any], list[str]]] = [
    ("Pod", {**pod(), "metadata": meta("Bad_Name")},
     ["metadata.name: Invalid value: \"Bad_Name\""]),
    ("Pod", {**pod(), "metadata": {"namespace": "default"}},
     ["metadata.name: Required value: name or generateName is required"]),
    ("Pod", {**pod(), "metadata": meta("p", ns=None)}, ["metadata.namespace: Required value"]),
    ("Namespace", {"metadata": meta("a.b", ns=None)}, ["metadata.name: Invalid value: \"a.b\""]),
    ("Namespace", {"metadata": meta("a", ns="default")},
     ["metadata.namespace: Forbidden: not allowed on this type"]),
    ("Service", {**svc(), "metadata": meta("1web")}, ["metadata.name: Invalid value: \"1web\""]),
    ("Pod", {**pod(), "metadata": meta("p", labels={"bad key": "v"})},
     ["metadata.labels: Invalid value: \"bad key\""]),
    ("Pod", {**pod(), "metadata": meta("p", labels={"k": "bad value"})},
     ["metadata.labels[k]: Invalid value: \"bad value\""]),
    ("Pod", pod({"name": "c"}), ["spec.containers[0].image: Required value"]),
    ("Pod", pod({"image": "x"}), ["spec.containers[0].name: Required value"]),
    ("Pod", pod({"name": "c", "image": "x"}, {"name": "c", "image": "y"}),
     ["spec.containers[1].name: Duplicate value: \"c\""]),
    ("Pod", pod({"name": "c", "image": "x", "ports": [{"containerPort": 70000}]}),
     ["spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and "
      "65535, inclusive"]),
    ("Pod", pod({"name": "c", "image": "x", "ports": [{"containerPort": 80,
                                                     "protocol": "ICMP"}]}),
     ["spec.containers[0].ports[0].protocol: Unsupported value: \"ICMP\""]),
    ("Pod", pod({"name": "c", "image": 5}),
     ["spec.containers[0].image: Invalid value: 5: must be of type string"]),
    ("Pod", pod({"name": "c", "image": "x", "volumeMounts": [{"name": "v", "mountPath": "/x"}]}),
     ["spec.containers[0].volumeMounts[0].name: Not found: \"v\""]),
    ("StatefulSet", workload("StatefulSet", template={
        **template(), "spec": {"containers": [{"name": "c", "image": "x", "volumeMounts": [
            {"name": "other", "mountPath": "/data"}]}]}},
        volumeClaimTemplates=[{"metadata": {"name": "data"}}]),
     ["spec.template.spec.containers[0].volumeMounts[0].name: Not found: \"other\""]),
    ("Pod", pod(restartPolicy="Sometimes"), ["spec.restartPolicy: Unsupported value"]),
    ("Pod", pod(volumes=[{"name": "v"}]),
     ["spec.volumes[0]: Required value: must specify a volume type"]),
    ("Pod", pod(containers=[]), ["spec.containers: Required value"]),
    ("Deployment", workload("Deployment", selector=None), ["spec.selector: Required value"]),
    ("Deployment", workload("Deployment", template=template({"app": "other"})),
     ["spec.template.metadata.labels: Invalid value: {\"app\": \"other\"}: `selector` does not "
      "match template `labels`"]),
    ("Deployment", workload("Deployment", selector={}),
     ["spec.selector: Invalid value: {}: empty selector is invalid for deployment"]),
    ("Deployment", workload("Deployment", replicas=-1),
     ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]),
    ("Deployment", workload("Deployment", template=template(restartPolicy="Never")),
     ["spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: "
      "\"Always\""]),
    ("Deployment", workload("Deployment", strategy={"type": "Recreate",
                                                    "rollingUpdate": {"maxSurge": 1}}),
     ["spec.strategy.rollingUpdate: Forbidden"]),
    ("Deployment", workload("Deployment", template=template(containers=[{"name": "c"}])),
     ["spec.template.spec.containers[0].image: Required value"]),
    ("StatefulSet", {"metadata": meta("s"), "spec": {
        "selector": {"matchLabels": {"app": "a"}}, "template": template()}},
     ["spec.serviceName: Required value"]),
    ("Job", {"metadata": meta("j", uid="u"), "spec": {"template": template()}},
     ["spec.template.spec.restartPolicy: Unsupported value: \"Always\""]),
    ("Service", svc(ports=[]), ["spec.ports: Required value"]),
    ("Service", svc(ports=[{"port": 80}, {"port": 81}]),
     ["spec.ports[0].name: Required value", "spec.ports[1].name: Required value"]),
    ("Service", svc(ports=[{"port": 0}]),
     ["spec.ports[0].port: Invalid value: 0", "spec.ports[0].targetPort: Invalid value: 0"]),
    ("Service", svc(type="Bogus"), ["spec.type: Unsupported value: \"Bogus\""]),
    ("Service", svc(ports=[{"port": 80, "nodePort": 30000}]),
     ["spec.ports[0].nodePort: Forbidden"]),
    ("Service", svc(ports=[{"port": 80, "targetPort": "Not_A_Name"}]),
     ["spec.ports[0].targetPort: Invalid value: \"Not_A_Name\""]),
    ("ConfigMap", {"metadata": meta("cm"), "data": {"bad/key": "x"}},
     ["data[bad/key]: Invalid value: \"bad/key\""]),
    ("Secret", {"metadata": meta("s"), "data": {"k": "not base64!"}},
     ["data[k]: Invalid value: \"not base64!\": must be base64-encoded data"]),
    ("Secret", {"metadata": meta("s"), "type": "kubernetes.io/tls", "data": {}},
     ["data[tls.crt]: Required value", "data[tls.key]: Required value"]),
    ("RoleBinding", {"metadata": meta("rb"), "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                                         "kind": "Bogus", "name": "r"}},
     ["roleRef.kind: Unsupported value: \"Bogus\""]),
    ("ClusterRole", {"metadata": meta("r", ns=None), "rules": [{"resources": ["pods"]}]},
     ["rules[0].verbs: Required value", "rules[0].apiGroups: Required value"]),
    ("Ingress", {"metadata": meta("i"), "spec": {"rules": [{"http": {"paths": [
        {"path": "x", "pathType": "Prefix",
         "backend": {"service": {"name": "w", "port": {"number": 80}}}}]}}]}},
     ["spec.rules[0].http.paths[0].path: Invalid value: \"x\": must be an absolute path"]),
    ("PersistentVolumeClaim", {"metadata": meta("c"), "spec": {}},
     ["spec.accessModes: Required value", "spec.resources[storage]: Required value"]),
    ("EndpointSlice", {"metadata": meta("es"), "addressType": "IPv5"},
     ["addressType: Unsupported value: \"IPv5\""]),
    ("Pod", pod({"name": "c", "image": "nginx", "lifecycle": {
        "postStart": {}, "preStop": {"exec": {"command": []}, "sleep": {"seconds": 1}}}}),
     ["spec.containers[0].lifecycle.postStart: Required value: must specify a handler type",
      "spec.containers[0].lifecycle.preStop.exec.command: Required value",
      "spec.containers[0].lifecycle.preStop.sleep: Forbidden: may not specify more than 1 "
      "handler type"]),
    ("Pod", pod({"name": "c", "image": "nginx", "lifecycle": {
        "preStop": {"sleep": {"seconds": 11}},
        "postStart": {"httpGet": {"port": "8080", "scheme": "FTP",
                                  "httpHeaders": [{"name": "X Bad", "value": "v"}]}}}},
                terminationGracePeriodSeconds=10),
     ["spec.containers[0].lifecycle.postStart.httpGet.port: Invalid value: \"8080\": must "
      "contain at least one letter (a-z)",
      "spec.containers[0].lifecycle.postStart.httpGet.scheme: Unsupported value: \"FTP\"",
      "spec.containers[0].lifecycle.postStart.httpGet.httpHeaders: Invalid value: \"X Bad\": "
      "a valid HTTP header",
      "spec.containers[0].lifecycle.preStop.sleep: Invalid value: 11: must be greater than 0 "
      "and less than terminationGracePeriodSeconds (10)"]),
    ("Pod", pod(initContainers=[{"name": "i", "image": "nginx", "lifecycle": {
        "preStop": {"sleep": {"seconds": 0}}}}]),
     ["spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers "
      "without restartPolicy=Always"]),
    ("Deployment", workload("Deployment", template=template(
        containers=[{"name": "c", "image": "nginx", "lifecycle": {
            "preStop": {"tcpSocket": {"port": 0}}}}])),
     ["spec.template.spec.containers[0].lifecycle.preStop.tcpSocket.port: Invalid value: 0: "
      "must be between 1 and 65535, inclusive"]),
    ("Lease", {"metadata": meta("l"), "spec": {"leaseDurationSeconds": "10"}},
     ["spec.leaseDurationSeconds: Invalid value: \"10\": must be of type integer"]),
]


@pytest.mark.parametrize(("kind", "obj", "expected"), INVALID)
def test_invalid_objects(kind: str, obj: dict[str, Any], expected: list[str]) -> None:
    errors = [str(e) for e in validate(kind, apply_defaults(kind, obj))]
    assert len(errors) == len(expected), errors
    for got, want in zip(errors, expected, strict=True):
        assert got.startswith(want), (got, want)


UPDATES: list[tuple[str, dict[str, Any], dict[str, Any], list[str]]] = [
    ("Deployment", workload("Deployment"),
     workload("Deployment", selector={"matchLabels": {"app": "a", "x": "y"}},
              template=template({"app": "a", "x": "y"})),
     ["spec.selector: Invalid value"]),
    ("Deployment", workload("Deployment"), workload("Deployment", replicas=5), []),
    ("StatefulSet", workload("StatefulSet"), workload("StatefulSet", serviceName="other"),
     ["spec: Forbidden: updates to statefulset spec"]),
    ("StatefulSet", workload("StatefulSet"), workload("StatefulSet", replicas=3), []),
    ("Service", svc(clusterIP="10.0.0.1"), svc(clusterIP="10.0.0.2"),
     ["spec.clusterIP: Invalid value: \"10.0.0.2\": field is immutable"]),
    ("Pod", pod({"name": "c", "image": "nginx", "imagePullPolicy": "Always"}),
     pod({"name": "c", "image": "nginx:2", "imagePullPolicy": "Always"}), []),
    ("Pod", pod(), pod(nodeName="n1"), []),
    ("Pod", pod(), pod({"name": "c", "image": "nginx", "tty": True}),
     ["spec: Forbidden: pod updates may not change fields"]),
    ("Secret", {"metadata": meta("s"), "type": "Opaque"},
     {"metadata": meta("s"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}},
     ["type: Invalid value: \"kubernetes.io/tls\": field is immutable"]),
    ("ConfigMap", {"metadata": meta("c"), "immutable": True, "data": {"a": "1"}},
     {"metadata": meta("c"), "immutable": True, "data": {"a": "2"}},
     ["data: Forbidden: field is immutable when `immutable` is set"]),
    ("RoleBinding", {"metadata": meta("rb"), "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}},
     {"metadata": meta("rb"), "roleRef": {
         "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r2"}},
     ["roleRef: Invalid value"]),
    ("Node", {"metadata": meta("n1", ns=None), "spec": {}},
     {"metadata": meta("n1", ns=None), "spec": {"podCIDR": "10.244.1.0/24",
                                       "podCIDRs": ["10.244.1.0/24"]}}, []),
    ("Node", {"metadata": meta("n1", ns=None), "spec": {"podCIDR": "10.244.1.0/24",
                                               "podCIDRs": ["10.244.1.0/24"]}},
     {"metadata": meta("n1", ns=None), "spec": {"podCIDR": "10.244.2.0/24",
                                       "podCIDRs": ["10.244.2.0/24"]}},
     ["spec.podCIDR: Forbidden: node updates may not change podCIDR",
      "spec.podCIDRs: Forbidden: node updates may not change podCIDR"]),
    ("Job", {"metadata": meta("j", uid="u"), "spec": {"template": template(
        restartPolicy="Never")}},
     {"metadata": meta("j", uid="u"), "spec": {"template": template(
         restartPolicy="OnFailure")}},
     ["spec.template: Invalid value"]),
]


@pytest.mark.parametrize(("kind", "old", "new", "expected"), UPDATES)
def test_update_rules(kind: str, old: dict[str, Any], new: dict[str, Any],
                      expected: list[str]) -> None:
    errors = [str(e) for e in validate(kind, apply_defaults(kind, new),
                                       old=apply_defaults(kind, old))]
    assert len(errors) == len(expected), errors
    for got, want in zip(errors, expected, strict=True):
        assert got.startswith(want), (got, want)


def test_unknown_fields_paths() -> None:
    obj = pod({"name": "c", "image": "x", "imagee": "typo"})
    obj["spec"]["bogus"] = {"deep": 1}
    obj["metadata"]["labels"] = {"anything": "goes"}
    obj["metadata"]["annotations"] = {"a": "b"}
    obj["status"] = {"weird": 1}
    assert unknown_fields("Pod", obj) == ["spec.containers[0].imagee", "spec.bogus",
                                          "status.weird"]
    collected: list[str] = []
    validate("Pod", obj, unknown=collected)
    assert collected == unknown_fields("Pod", obj)
    assert unknown_fields("ControllerRevision", {"metadata": meta(), "revision": 1,
                                                 "data": {"free": {"form": 1}}}) == []


def test_duplicate_fields() -> None:
    text = json.dumps({"metadata": {"name": "a"}})[:-2] + ', "name": "b"}, "spec": {"x": [' \
        '{"a": 1, "a": 2}]}}'
    data, dups = loads_checking_duplicates(text)
    assert data == {"metadata": {"name": "b"}, "spec": {"x": [{"a": 2}]}}
    assert dups == ["metadata.name", "spec.x[0].a"]
    assert type(data["metadata"]) is dict
    assert loads_checking_duplicates(b'{"a": 1}') == ({"a": 1}, [])
    with pytest.raises(ValueError):
        loads_checking_duplicates("{not json")


def test_error_rendering_for_status() -> None:
    errors = validate("Pod", apply_defaults("Pod", pod({"name": "c"})))
    assert errors[0].cause() == {"reason": "FieldValueRequired", "message": "Required value",
                                 "field": "spec.containers[0].image"}
    assert invalid_message("Pod", "p", errors) == (
        'Pod "p" is invalid: spec.containers[0].image: Required value')
    two = validate("Pod", apply_defaults("Pod", pod({"name": "c"}, {"name": "d"})))
    assert invalid_message("Pod", "p", two).endswith(
        "[spec.containers[0].image: Required value, spec.containers[1].image: Required value]")


def test_validation_is_pure() -> None:
    obj = apply_defaults("Deployment", workload("Deployment"))
    before = copy.deepcopy(obj)
    validate("Deployment", obj, old=obj)
    unknown_fields("Deployment", obj)
    assert obj == before
