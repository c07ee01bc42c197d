"""Container validation parity with upstream: probes, lifecycle, ports, env and envFrom, mounts,
container lists (``api/validation_probes.py``, ``api/validation_containers.py``).

``BAD`` maps a spec to every error it must give — (field, reason, message), in upstream's
words and order; ``GOOD`` lists specs that must pass, and every pod-bearing manifest the
examples and tests apply must pass too.  Objects are defaulted first, as the apiserver does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kboot.controlplane.api import field_errors as fe
from kboot.controlplane.api.defaults import apply_defaults
from kboot.controlplane.api.validation import validate
from tests.integration.apiserver.manifests import app_manifest

Obj = dict[str, Any]
ROOT = Path(__file__).resolve().parents[3]
C0 = "spec.containers[0]"
ONE_HANDLER = "Forbidden: may not specify more than 1 handler type"
INIT_ONLY = "Forbidden: may not be set for init containers without restartPolicy=Always"
TCP = {"tcpSocket": {"port": 80}}
EXEC = {"exec": {"command": ["true"]}}


def c(name: str = "c", **extra: Any) -> Obj:
    return {"name": name, "image": "nginx", **extra}


def pod(*containers: Obj, **spec: Any) -> tuple[str, Obj]:
    return "Pod", {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "p", "namespace": "default"},
                   "spec": {"containers": list(containers) or [c()], **spec}}


def env(*variables: Obj) -> tuple[str, Obj]:
    return pod(c(env=list(variables)))


def template(*containers: Obj) -> Obj:
    return {"metadata": {"labels": {"app": "a"}},
            "spec": {"containers": list(containers), "restartPolicy": "OnFailure"}}


def workload(kind: str, *containers: Obj) -> tuple[str, Obj]:
    spec: Obj = {"selector": {"matchLabels": {"app": "a"}}, "template": template(*containers)}
    spec["template"]["spec"]["restartPolicy"] = "Always"
    if kind == "StatefulSet":
        spec["serviceName"] = "s"
    if kind == "ReplicationController":
        spec["selector"] = {"app": "a"}
    if kind == "Job":
        spec = {"template": template(*containers)}
    if kind == "CronJob":
        spec = {"schedule": "* * * * *", "jobTemplate": {"spec": {
            "template": template(*containers)}}}
    return kind, {"metadata": {"name": "w", "namespace": "default", "uid": "u"}, "spec": spec}


LIVE_TWO = c(livenessProbe={**TCP, "successThreshold": 2})
MUST_BE_1 = "containers[0].livenessProbe.successThreshold"

BAD: list[tuple[str, tuple[str, Obj], list[tuple[str, str, str]]]] = [
    # ---------------------------------------------------------------------- probes
    ("liveness-success-2", pod(LIVE_TWO),
     [(f"spec.{MUST_BE_1}", fe.INVALID, "Invalid value: 2: must be 1")]),
    ("startup-success-3", pod(c(startupProbe={**EXEC, "successThreshold": 3})),
     [(f"{C0}.startupProbe.successThreshold", fe.INVALID, "Invalid value: 3: must be 1")]),
    ("no-handler", pod(c(readinessProbe={"periodSeconds": 5})),
     [(f"{C0}.readinessProbe", fe.REQUIRED, "Required value: must specify a handler type")]),
    ("three-handlers", pod(c(livenessProbe={**EXEC, "httpGet": {"port": 80},
                                            "grpc": {"port": 9000}})),
     [(f"{C0}.livenessProbe.httpGet", fe.FORBIDDEN, ONE_HANDLER),
      (f"{C0}.livenessProbe.grpc", fe.FORBIDDEN, ONE_HANDLER)]),
    ("negative-counters", pod(c(readinessProbe={
        **EXEC, "initialDelaySeconds": -1, "timeoutSeconds": -2, "periodSeconds": -3,
        "successThreshold": -5, "failureThreshold": -4})),
     [(f"{C0}.readinessProbe.{f}", fe.INVALID, f"Invalid value: {v}: must be greater than or "
                                               "equal to 0")
      for f, v in (("initialDelaySeconds", -1), ("timeoutSeconds", -2), ("periodSeconds", -3),
                   ("successThreshold", -5), ("failureThreshold", -4))]),
    ("liveness-success-negative", pod(c(livenessProbe={**TCP, "successThreshold": -1})),
     [(f"{C0}.livenessProbe.successThreshold", fe.INVALID,
       "Invalid value: -1: must be greater than or equal to 0"),
      (f"{C0}.livenessProbe.successThreshold", fe.INVALID, "Invalid value: -1: must be 1")]),
    ("http-get", pod(c(livenessProbe={"httpGet": {
        "port": 0, "scheme": "FTP", "httpHeaders": [{"name": "Bad Header", "value": "x"}]}})),
     [(f"{C0}.livenessProbe.httpGet.port", fe.INVALID,
       "Invalid value: 0: must be between 1 and 65535, inclusive"),
      (f"{C0}.livenessProbe.httpGet.scheme", fe.NOT_SUPPORTED,
       'Unsupported value: "FTP": supported values: "HTTP", "HTTPS"'),
      (f"{C0}.livenessProbe.httpGet.httpHeaders", fe.INVALID,
       "Invalid value: \"Bad Header\": a valid HTTP header must consist of alphanumeric "
       "characters or '-' (e.g. 'X-Header-Name', regex used for validation is "
       "'[-A-Za-z0-9]+')")]),
    ("tcp-port-name", pod(c(startupProbe={"tcpSocket": {"port": "WEB_1"}})),
     [(f"{C0}.startupProbe.tcpSocket.port", fe.INVALID, 'Invalid value: "WEB_1": must contain '
       "only alpha-numeric characters (a-z, 0-9), and hyphens (-)"),
      (f"{C0}.startupProbe.tcpSocket.port", fe.INVALID,
       'Invalid value: "WEB_1": must contain at least one letter (a-z)')]),
    ("grpc-port", pod(c(readinessProbe={"grpc": {"port": 70000}})),
     [(f"{C0}.readinessProbe.grpc.port", fe.INVALID,
       "Invalid value: 70000: must be between 1 and 65535, inclusive")]),
    ("exec-empty", pod(c(livenessProbe={"exec": {"command": []}})),
     [(f"{C0}.livenessProbe.exec.command", fe.REQUIRED, "Required value")]),
    ("probe-grace", pod(c(livenessProbe={**TCP, "terminationGracePeriodSeconds": 0},
                          readinessProbe={**TCP, "terminationGracePeriodSeconds": 5})),
     [(f"{C0}.livenessProbe.terminationGracePeriodSeconds", fe.INVALID,
       "Invalid value: 0: must be greater than 0"),
      (f"{C0}.readinessProbe.terminationGracePeriodSeconds", fe.INVALID,
       "Invalid value: 5: must not be set for readinessProbes")]),
    ("init-probes", pod(c(), initContainers=[c("i", readinessProbe=EXEC, startupProbe=EXEC,
                                               lifecycle={"preStop": EXEC})]),
     [(f"spec.initContainers[0].{f}", fe.FORBIDDEN, INIT_ONLY)
      for f in ("lifecycle", "readinessProbe", "startupProbe")]),
    ("sidecar-probe-checked", pod(c(), initContainers=[
        c("i", restartPolicy="Always", livenessProbe={**TCP, "successThreshold": 2})]),
     [("spec.initContainers[0].livenessProbe.successThreshold", fe.INVALID,
       "Invalid value: 2: must be 1")]),
    ("init-restart-policy", pod(c(), initContainers=[c("i", restartPolicy="OnFailure")]),
     [("spec.initContainers[0].restartPolicy", fe.NOT_SUPPORTED,
       'Unsupported value: "OnFailure": supported values: "Always"')]),
    ("regular-restart-policy", pod(c(restartPolicy="Always")),
     [(f"{C0}.restartPolicy", fe.FORBIDDEN, "Forbidden: may not be set for non-init "
                                            "containers")]),
    # every pod template takes the same rules under its own path
    *[(f"{kind}-template", workload(kind, LIVE_TWO),
       [(f"{prefix}spec.template.spec.{MUST_BE_1}", fe.INVALID, "Invalid value: 2: must be 1")])
      for kind, prefix in (("Deployment", ""), ("ReplicaSet", ""), ("StatefulSet", ""),
                           ("DaemonSet", ""), ("ReplicationController", ""), ("Job", ""),
                           ("CronJob", "spec.jobTemplate."))],
    # ----------------------------------------------------------------------- ports
    ("container-port-0", pod(c(ports=[{"containerPort": 0}])),
     [(f"{C0}.ports[0].containerPort", fe.REQUIRED, "Required value")]),
    ("host-port-range", pod(c(ports=[{"containerPort": 80, "hostPort": 70000}])),
     [(f"{C0}.ports[0].hostPort", fe.INVALID,
       "Invalid value: 70000: must be between 1 and 65535, inclusive")]),
    ("port-names", pod(c(ports=[{"name": "web", "containerPort": 80},
                                {"name": "web", "containerPort": 81},
                                {"name": "Web", "containerPort": 82}])),
     [(f"{C0}.ports[1].name", fe.DUPLICATE, 'Duplicate value: "web"'),
      (f"{C0}.ports[2].name", fe.INVALID, 'Invalid value: "Web": must contain only '
       "alpha-numeric characters (a-z, 0-9), and hyphens (-)")]),
    ("port-protocol", pod(c(ports=[{"containerPort": 80, "protocol": "tcp"}])),
     [(f"{C0}.ports[0].protocol", fe.NOT_SUPPORTED,
       'Unsupported value: "tcp": supported values: "SCTP", "TCP", "UDP"')]),
    ("host-port-conflict", pod(c(ports=[{"containerPort": 80, "hostPort": 8080}]),
                               c("d", ports=[{"containerPort": 81, "hostPort": 8080}])),
     [("spec.containers[1].ports[0].hostPort", fe.DUPLICATE, 'Duplicate value: "TCP//8080"')]),
    # init containers run one at a time: each is checked alone, and upstream names it [0]
    ("init-host-port-conflict", pod(c(), initContainers=[c("i"), c("j", ports=[
        {"containerPort": 80, "hostPort": 80}, {"containerPort": 81, "hostPort": 80}])]),
     [("spec.initContainers[0].ports[1].hostPort", fe.DUPLICATE, 'Duplicate value: "TCP//80"')]),
    ("host-network-port", pod(c(ports=[{"containerPort": 80, "hostPort": 81}]),
                              hostNetwork=True),
     [(f"{C0}.ports[0].hostPort", fe.INVALID,
       "Invalid value: 81: must match `containerPort` when `hostNetwork` is true")]),
    # ------------------------------------------------------------------------- env
    ("env-name", env({"name": "A=B"}, {"name": "A\tB"}),
     [(f"{C0}.env[{i}].name", fe.INVALID, f'Invalid value: "{n}": a valid environment variable '
       "name must consist only of printable ASCII characters other than '='")
      for i, n in ((0, "A=B"), (1, "A\\tB"))]),
    ("env-no-source", env({"name": "A", "valueFrom": {}}),
     [(f"{C0}.env[0].valueFrom", fe.INVALID, 'Invalid value: "": must specify one of: '
       "`fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`")]),
    ("env-value-and-source", env({"name": "A", "value": "x", "valueFrom": {
        "secretKeyRef": {"name": "s", "key": "k"}}}),
     [(f"{C0}.env[0].valueFrom", fe.INVALID,
       'Invalid value: "": may not be specified when `value` is not empty')]),
    ("env-two-sources", env({"name": "A", "valueFrom": {
        "secretKeyRef": {"name": "s", "key": "k"}, "configMapKeyRef": {"name": "c", "key": "k"}}}),
     [(f"{C0}.env[0].valueFrom", fe.INVALID,
       'Invalid value: "": may not have more than one field specified at a time')]),
    ("field-ref-paths", env(*[{"name": f"V{i}", "valueFrom": {"fieldRef": ref}} for i, ref in
                              enumerate(({"fieldPath": "spec.bogus"},
                                         {"fieldPath": "status.phase"},
                                         {"apiVersion": "v2", "fieldPath": "metadata.name"},
                                         {"fieldPath": "metadata.labels['bad key']"}))]),
     [(f"{C0}.env[0].valueFrom.fieldRef.fieldPath", fe.INVALID, 'Invalid value: "spec.bogus": '
       "error converting fieldPath: field label not supported: spec.bogus"),
      (f"{C0}.env[1].valueFrom.fieldRef.fieldPath", fe.NOT_SUPPORTED,
       'Unsupported value: "status.phase": supported values: "metadata.name", '
       '"metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", '
       '"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"'),
      (f"{C0}.env[2].valueFrom.fieldRef.fieldPath", fe.INVALID, 'Invalid value: '
       '"metadata.name": error converting fieldPath: unsupported pod version: v2'),
      (f"{C0}.env[3].valueFrom.fieldRef", fe.INVALID, 'Invalid value: "bad key": name part '
       "must consist of alphanumeric characters")]),
    ("resource-field-ref", env(
        {"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}},
        {"name": "B", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu",
                                                         "divisor": "2"}}},
        {"name": "C", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory",
                                                         "divisor": "1m"}}}),
     [(f"{C0}.env[0].valueFrom.resourceFieldRef.resource", fe.NOT_SUPPORTED,
       'Unsupported value: "limits.gpu": supported values: "limits.cpu", '
       '"limits.ephemeral-storage", "limits.memory", "requests.cpu", '
       '"requests.ephemeral-storage", "requests.memory"'),
      (f"{C0}.env[1].valueFrom.resourceFieldRef.divisor", fe.INVALID, 'Invalid value: '
       "\"limits.cpu\": only divisor's values 1m and 1 are supported with the cpu resource"),
      (f"{C0}.env[2].valueFrom.resourceFieldRef.divisor", fe.INVALID, 'Invalid value: '
       "\"requests.memory\": only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, "
       "1Ti, 1Pi, 1Ei are supported with the memory resource")]),
    ("key-refs", env({"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm",
                                                                     "key": "bad/key"}}},
                     {"name": "B", "valueFrom": {"secretKeyRef": {"key": "k"}}}),
     [(f"{C0}.env[0].valueFrom.configMapKeyRef.key", fe.INVALID, 'Invalid value: "bad/key": '
       "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"),
      (f"{C0}.env[1].valueFrom.secretKeyRef.name", fe.INVALID, 'Invalid value: "": a lowercase '
       "RFC 1123 subdomain must consist of")]),
    ("env-from", pod(c(envFrom=[{"prefix": "A=", "configMapRef": {"name": "cm"}}, {},
                                {"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}},
                                {"secretRef": {"name": "Bad_Name"}}])),
     [(f"{C0}.envFrom[0].prefix", fe.INVALID, 'Invalid value: "A=": a valid environment '
       "variable name must consist only of printable ASCII characters other than '='"),
      (f"{C0}.envFrom", fe.INVALID,
       'Invalid value: "": must specify one of: `configMapRef` or `secretRef`'),
      (f"{C0}.envFrom", fe.INVALID,
       'Invalid value: "": may not have more than one field specified at a time'),
      (f"{C0}.envFrom[3].secretRef.name", fe.INVALID, 'Invalid value: "Bad_Name": a lowercase '
       "RFC 1123 subdomain")]),
    # ---------------------------------------------------------------- mounts, misc
    ("mounts", pod(c(volumeMounts=[{"name": "v", "mountPath": ""},
                                   {"name": "v", "mountPath": "/a", "subPath": "../x"},
                                   {"name": "v", "mountPath": "/b", "subPath": "/abs",
                                    "subPathExpr": "$(X)"}]),
                   volumes=[{"name": "v", "emptyDir": {}}]),
     [(f"{C0}.volumeMounts[0].mountPath", fe.REQUIRED, "Required value"),
      (f"{C0}.volumeMounts.subPath", fe.INVALID, "Invalid value: \"../x\": must not contain "
                                                 "'..'"),
      (f"{C0}.volumeMounts.subPath", fe.INVALID, 'Invalid value: "/abs": must be a relative '
                                                 "path"),
      (f"{C0}.volumeMounts[2].subPathExpr", fe.INVALID,
       'Invalid value: "$(X)": subPathExpr and subPath are mutually exclusive')]),
    ("termination-message-policy", pod(c(terminationMessagePolicy="Bogus")),
     [(f"{C0}.terminationMessagePolicy", fe.NOT_SUPPORTED,
       'Unsupported value: "Bogus": supported values: "File", "FallbackToLogsOnError"')]),
    ("container-name-empty", pod(c("")), [(f"{C0}.name", fe.REQUIRED, "Required value")]),
    ("init-name-clash", pod(c(), initContainers=[c("c")]),
     [("spec.initContainers[0].name", fe.DUPLICATE, 'Duplicate value: "c"')]),
    ("dns-none", pod(dnsPolicy="None"),
     [("spec.dnsConfig", fe.REQUIRED,
       "Required value: must provide `dnsConfig` when `dnsPolicy` is None")]),
    ("dns-none-no-servers", pod(dnsPolicy="None", dnsConfig={"searches": ["svc.local"]}),
     [("spec.dnsConfig.nameservers", fe.REQUIRED, "Required value: must provide at least one "
                                                  "DNS nameserver when `dnsPolicy` is None")]),
]


@pytest.mark.parametrize(("kind", "obj", "expected"), [(*case[1], case[2]) for case in BAD],
                         ids=[case[0] for case in BAD])
def test_bad_specs_give_upstreams_errors(kind: str, obj: Obj,
                                         expected: list[tuple[str, str, str]]) -> None:
    errors = validate(kind, apply_defaults(kind, obj))
    got = [(e.field, e.type, e.message) for e in errors]
    assert len(got) == len(expected), got
    for (field, reason, message), want in zip(got, expected, strict=True):
        assert (field, reason) == want[:2], got
        assert message.startswith(want[2]), (message, want[2])


GOOD: list[tuple[str, tuple[str, Obj]]] = [
    ("every-probe-kind", pod(c(
        ports=[{"name": "http", "containerPort": 8080, "protocol": ""}],
        livenessProbe={"httpGet": {"path": "", "port": "http", "scheme": "HTTPS",
                                   "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                       "successThreshold": 0, "terminationGracePeriodSeconds": 5},
        readinessProbe={"grpc": {"port": 9000, "service": "health"}, "successThreshold": 3,
                        "initialDelaySeconds": 0, "periodSeconds": 0},
        startupProbe={**EXEC, "failureThreshold": 30, "periodSeconds": 1}))),
    ("sidecar-probes-and-hooks", pod(c(), initContainers=[c(
        "side", restartPolicy="Always", startupProbe=TCP, readinessProbe=EXEC,
        lifecycle={"preStop": {"sleep": {"seconds": 5}}})])),
    ("relaxed-env-names", env({"name": "my.var-1 x", "value": "v"}, {"name": "1ABC"},
                              {"name": "A", "value": ""})),
    ("env-sources", env(*[{"name": f"V{i}", "valueFrom": source} for i, source in enumerate((
        {"fieldRef": {"fieldPath": "status.podIPs"}},
        {"fieldRef": {"fieldPath": "spec.host"}},
        {"fieldRef": {"fieldPath": "metadata.labels['app']"}},
        {"fieldRef": {"fieldPath": "metadata.annotations['Example.com/Key']"}},
        {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
        {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}},
        {"resourceFieldRef": {"resource": "limits.hugepages-2Mi"}},
        {"configMapKeyRef": {"name": "cm", "key": "KEY.name", "optional": True}},
        {"secretKeyRef": {"name": "s", "key": "k"}}))])),
    ("env-from", pod(c(envFrom=[{"prefix": "APP_", "configMapRef": {"name": "cm-"}},
                                {"secretRef": {"name": "s", "optional": True}}]))),
    ("host-network-ports", pod(c(ports=[{"containerPort": 53, "hostPort": 53},
                                        {"containerPort": 53, "hostPort": 53,
                                         "protocol": "UDP"}]), hostNetwork=True)),
    ("init-host-ports-run-one-at-a-time", pod(c(), initContainers=[
        c("i", ports=[{"containerPort": 80, "hostPort": 80}]),
        c("j", ports=[{"containerPort": 80, "hostPort": 80}])])),
    ("dns-none-with-config", pod(dnsPolicy="None", dnsConfig={"nameservers": ["10.96.0.10"]})),
    ("sub-paths", pod(c(volumeMounts=[{"name": "v", "mountPath": "/a", "subPath": "x/y"},
                                      {"name": "v", "mountPath": "/b", "subPathExpr": "$(P)"}]),
                      volumes=[{"name": "v", "emptyDir": {}}])),
]


def _manifest_objects() -> list[tuple[str, Obj]]:
    """Pod-bearing objects of every manifest the examples and tests apply."""
    texts = [(ROOT / "examples/hello.yaml").read_text(), app_manifest("default")]
    texts += [p.read_text() for p in sorted(
        (ROOT / "tests/upstream/python_client_e2e/kubernetes/e2e_test/test_yaml").glob("*.yaml"))]
    docs = [d for text in texts for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    docs += [i for d in list(docs) if d.get("kind", "").endswith("List")
             for i in d.get("items") or []]
    kinds = ("Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob",
             "ReplicationController")
    out = [(d["kind"], d) for d in docs
           if d.get("kind") in kinds and "beta" not in d.get("apiVersion", "")]
    for _, d in out:
        d["metadata"].setdefault("namespace", "default")
        d["metadata"].setdefault("uid", "u")
    return out


MANIFESTS = _manifest_objects()


def test_the_manifests_are_found() -> None:
    assert {"Pod", "Deployment"} <= {kind for kind, _ in MANIFESTS}
    assert len(MANIFESTS) >= 6


@pytest.mark.parametrize(("kind", "obj"), [case[1] for case in GOOD] + MANIFESTS,
                         ids=[case[0] for case in GOOD] + [
                             f"{k}-{o['metadata']['name']}" for k, o in MANIFESTS])
def test_good_specs_pass(kind: str, obj: Obj) -> None:
    assert [str(e) for e in validate(kind, apply_defaults(kind, obj))] == []
