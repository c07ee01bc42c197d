"""Bad input gets upstream's Status errors (400/404/409/415/422), never a 5xx."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.apiserver import ApiServer
from tests.integration.apiserver import fuzzing
from tests.integration.apiserver.http import Reply, call

pytestmark = pytest.mark.integration

BAD_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: bad
spec:
  containers:
  - name: c
"""


def _ns(server: ApiServer, ns: str) -> None:
    assert call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": ns}}).status == 201


def test_invalid_manifest_is_422_with_field_path(server: ApiServer, ns: str) -> None:
    _ns(server, ns)
    proc = server.kubectl("apply", "-n", ns, "-f", "-", input=BAD_POD)
    assert proc.returncode == 1
    assert "is invalid" in proc.stderr and "spec.containers[0].image" in proc.stderr
    reply = call(server, "POST", f"/api/v1/namespaces/{ns}/pods",
                 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"},
                  "spec": {"containers": [{"name": "c"}]}})
    assert reply.status == 422 and reply.body["reason"] == "Invalid"
    fields = [c["field"] for c in reply.body["details"]["causes"]]
    assert "spec.containers[0].image" in fields


def test_unknown_and_duplicate_fields(server: ApiServer, ns: str) -> None:
    _ns(server, ns)
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndta:\n  a: b\n"
    proc = server.kubectl("apply", "-n", ns, "-f", "-", input=manifest)
    assert proc.returncode == 1 and 'unknown field "dta"' in proc.stderr
    path = f"/api/v1/namespaces/{ns}/configmaps"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w"}, "dta": {}}
    strict = call(server, "POST", path + "?fieldValidation=Strict", body)
    assert strict.status == 400 and "dta" in strict.body["message"]
    warned = call(server, "POST", path + "?fieldValidation=Warn", body)
    assert warned.status == 201 and "dta" in warned.headers.get("Warning", "")
    dup = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d","name":"e"}}'
    reply = call(server, "POST", path + "?fieldValidation=Strict", dup)
    assert reply.status == 400 and 'duplicate field "name"' in reply.body["message"]


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/json", "{not json"),
    ("application/json", "[1, 2"),
    ("application/yaml", "a: [1, 2\nb: }"),
    ("application/json", '"just a string"'),
])
def test_malformed_bodies_are_400(server: ApiServer, content_type: str, body: str) -> None:
    reply = call(server, "POST", "/api/v1/namespaces/default/configmaps", body,
                 content_type=content_type)
    assert reply.status == 400, reply.body
    assert reply.body["kind"] == "Status" and reply.body["reason"] == "BadRequest"


def test_malformed_patches_are_400(server: ApiServer, ns: str) -> None:
    _ns(server, ns)
    path = f"/api/v1/namespaces/{ns}"
    for ctype, body in [("application/merge-patch+json", "{oops"),
                        ("application/json-patch+json", '{"op": "add"}'),
                        ("application/strategic-merge-patch+json", "[]"),
                        ("application/apply-patch+yaml", "a: [")]:
        reply = call(server, "PATCH", path + "?fieldManager=t", body, content_type=ctype)
        assert reply.status == 400, (ctype, reply.body)


def test_unsupported_selector_and_unknown_resource(server: ApiServer) -> None:
    reply = call(server, "GET", "/api/v1/pods?fieldSelector=spec.nope%3Dx")
    assert reply.status == 400
    assert call(server, "GET", "/api/v1/widgets").status == 404
    assert call(server, "GET", "/apis/apps/v1/namespaces/default/deployments/none").status == 404


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
_paths = st.sampled_from([
    "/api/v1/namespaces/default/configmaps", "/api/v1/namespaces/default/pods",
    "/apis/apps/v1/namespaces/default/deployments", "/api/v1/namespaces",
    "/api/v1/nodes", "/api/v1/namespaces/default/services",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles"])


def _doc(meta: Any, rest: dict[str, Any]) -> dict[str, Any]:
    return {**rest, "metadata": meta}


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=_paths, meta=_json | st.fixed_dictionaries({"name": st.text(max_size=12)}),
       rest=st.dictionaries(st.sampled_from(["spec", "data", "status", "kind", "apiVersion",
                                             "rules", "x"]), _json, max_size=4),
       method=st.sampled_from(["POST", "PUT", "PATCH"]),
       ctype=st.sampled_from(["application/json", "application/merge-patch+json",
                              "application/strategic-merge-patch+json",
                              "application/json-patch+json", "application/apply-patch+yaml"]))
def test_fuzz_never_5xx(server: ApiServer, path: str, meta: Any, rest: dict[str, Any],
                        method: str, ctype: str) -> None:
    body = json.dumps(_doc(meta, rest))
    target = path if method == "POST" else path + "/fuzz-target"
    reply = call(server, method, target + "?fieldManager=fuzz", body,
                 content_type=ctype if method == "PATCH" else "application/json")
    assert reply.status < 500, (method, target, body, reply.body)


_query_values = st.one_of(st.text(max_size=12), st.integers(-5, 10**12).map(str),
                          st.sampled_from(["0", "1", "true", "All", "Object", "a=b", "x in (y)"]))


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=_paths, name=st.sampled_from(["", "/kubernetes", "/default", "/nope"]),
       params=st.dictionaries(st.sampled_from([
           "limit", "continue", "resourceVersion", "resourceVersionMatch", "labelSelector",
           "fieldSelector", "timeoutSeconds", "includeObject", "propagationPolicy",
           "gracePeriodSeconds", "dryRun", "fieldValidation", "fieldManager"]), _query_values,
           max_size=4),
       method=st.sampled_from(["GET", "DELETE"]), table=st.booleans())
def test_fuzz_queries_never_5xx(server: ApiServer, path: str, name: str,
                                params: dict[str, str], method: str, table: bool) -> None:
    from urllib.parse import urlencode
    if method == "DELETE":  # never delete shared objects of the session server
        name = "/nope" if name else name
        params["labelSelector"] = "fuzz-never-matches"
    params.pop("watch", None)
    if "timeoutSeconds" in params:
        params["watch"] = "true"
        params["timeoutSeconds"] = "1"
    accept = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json" if table
              else "application/json")
    reply = call(server, method, f"{path}{name}?{urlencode(params)}", accept=accept)
    assert reply.status < 500 or _too_large_rv(reply), (method, path, name, params, reply.body)


def _too_large_rv(reply: Reply) -> bool:
    """Upstream answers a read at a future resourceVersion with a retryable 504 Timeout."""
    return (reply.status == 504 and reply.body["reason"] == "Timeout"
            and reply.body["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge")


# ----------------------------------------------------------------- issue 14: one row per case

_DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "slow"},
        "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 10**18,
                 "containers": [{"name": "c", "image": "i"}]}}


def _with(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``doc`` with ``value`` at the dotted ``path`` (``[i]`` for list items)."""
    out = json.loads(json.dumps(doc))
    node: Any = out
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.replace("[", ".").replace(
        "]", "").split(".")]
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return out


def _token(payload: str) -> str:
    import base64
    return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()


@dataclass(frozen=True)
class Case:
    """One bad request: ``path`` is relative to the test namespace unless it starts with
    ``/``; ``expect`` is a field a 422 must name in its causes, or a fragment a 4xx message
    must contain."""

    id: str
    method: str
    path: str
    body: Any
    status: int
    expect: str = ""
    content_type: str = "application/json"


_J, _M, _S = ("application/json", "application/merge-patch+json",
              "application/strategic-merge-patch+json")
_JP, _A, _Y = "application/json-patch+json", "application/apply-patch+yaml", "application/yaml"
_SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
_CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
_NULL_CPU = _with(_DEPLOY, "spec.template.spec.containers[0].resources", {"limits": {"cpu": None}})

CASES = [
    # null where an object or a quantity is expected
    Case("null-cpu-limit", "POST", "apps/deployments", _NULL_CPU, 422,
         "spec.template.spec.containers[0].resources.limits[cpu]"),
    Case("null-selector-label", "POST", "apps/deployments",
         _with(_DEPLOY, "spec.selector.matchLabels.app", None), 422,
         "spec.selector.matchLabels[app]"),
    Case("null-container", "POST", "apps/deployments",
         _with(_DEPLOY, "spec.template.spec.containers[0]", None), 422,
         "spec.template.spec.containers[0]"),
    # metadata that is not an object, in every write
    Case("metadata-string-create", "POST", "configmaps", {"metadata": "x"}, 400, "metadata"),
    Case("metadata-merge", "PATCH", "apps/deployments/web", {"metadata": 5}, 400, "metadata",
         _M),
    Case("metadata-strategic", "PATCH", "apps/deployments/web", {"metadata": []}, 400,
         "metadata", _S),
    Case("metadata-json-patch", "PATCH", "apps/deployments/web",
         [{"op": "replace", "path": "/metadata", "value": "x"}], 400, "metadata", _JP),
    Case("metadata-apply", "PATCH", "apps/deployments/web?fieldManager=t", "metadata: 5\n",
         400, "metadata", _A),
    # YAML-only types become JSON values (as upstream's YAML-to-JSON conversion)
    Case("yaml-int-keys", "POST", "configmaps",
         "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: intkeys}\ndata: {1: a, true: b}\n",
         201, "", _Y),
    Case("yaml-date-name", "POST", "configmaps",
         "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 2024-01-01}\n", 201, "", _Y),
    Case("yaml-timestamp-apply", "PATCH", "configmaps/stamped?fieldManager=t",
         "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stamped\n"
         "  creationTimestamp: 2024-01-01T00:00:00Z\ndata:\n  when: 2001-12-14t21:59:43.10-05:00"
         "\n", 201, "", _A),
    Case("yaml-timestamp-labels", "POST", "configmaps",
         "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: t2\n  labels: {a: 2024-01-01}\n"
         "  annotations: {2024-01-01: x}\n", 201, "", _Y),
    Case("yaml-infinity", "POST", "configmaps", "metadata: {name: inf}\ndata: {a: .inf}\n", 400,
         "JSON", _Y),
    # query parameters
    Case("limit-int64-max", "GET", "configmaps?limit=9223372036854775807", None, 200),
    Case("limit-beyond-int64", "GET", "configmaps?limit=9223372036854775808", None, 400,
         "limit"),
    Case("continue-1e400", "GET", "configmaps?limit=1&continue=" + _token(
        '{"v":"meta.k8s.io/v1","rv":1e400,"start":"a"}'), None, 400, "continue"),
    Case("continue-lone-surrogate", "GET", "configmaps?limit=1&continue=" + _token(
        '{"v":"meta.k8s.io/v1","rv":1,"start":"\\ud800"}'), None, 400, "continue"),
    Case("resource-version-1e23", "GET", f"configmaps?resourceVersion={10**23}", None, 400,
         "resourceVersion"),
    Case("watch-resource-version-1e23", "GET",
         f"configmaps?watch=true&resourceVersion={10**23}", None, 400, "resourceVersion"),
    Case("watch-timeout-seconds-1e400", "GET", f"configmaps?watch=true&timeoutSeconds={10**400}",
         None, 400, "timeoutSeconds"),
    Case("resource-version-match-unknown", "GET",
         "configmaps?resourceVersion=1&resourceVersionMatch=Newest", None, 400,
         "resourceVersionMatch"),
    Case("resource-version-match-alone", "GET", "configmaps?resourceVersionMatch=Exact", None,
         400, "resourceVersionMatch"),
    Case("dry-run-unknown-create", "POST", "configmaps?dryRun=Bogus",
         {"metadata": {"name": "d"}}, 400, "dryRun"),
    Case("dry-run-unknown-delete", "DELETE", "configmaps/none?dryRun=Bogus", None, 400,
         "dryRun"),
    # deletion options
    Case("grace-1e400-body", "DELETE", "apps/deployments/web?dryRun=All",
         '{"gracePeriodSeconds": 1e400}', 400, "out of range"),
    Case("grace-1e400-query", "DELETE", "apps/deployments/web?dryRun=All&gracePeriodSeconds=1e400",
         None, 400, "gracePeriodSeconds"),
    Case("grace-string-body", "DELETE", "apps/deployments/web?dryRun=All",
         {"gracePeriodSeconds": "x"}, 422, "gracePeriodSeconds"),
    Case("preconditions-list", "DELETE", "apps/deployments/web?dryRun=All",
         {"preconditions": []}, 422, "preconditions"),
    Case("pod-grace-1e18-deletable", "DELETE", "pods/slow?dryRun=All", None, 200),
    # subresource bodies
    Case("scale-spec-list", "PUT", "apps/deployments/web/scale", {"spec": []}, 422, "spec"),
    Case("scale-replicas-int32", "PUT", "apps/deployments/web/scale",
         {"spec": {"replicas": 2**31}}, 422, "spec.replicas"),
    Case("scale-not-object", "PUT", "apps/deployments/web/scale", [], 400, "object"),
    Case("scale-patch-null-spec", "PATCH", "apps/deployments/web/scale",
         {"spec": {"replicas": "x"}}, 422, "spec.replicas", _M),
    Case("binding-list", "POST", "pods/slow/binding", [], 400, "object"),
    Case("binding-target-string", "POST", "pods/slow/binding", {"target": "n1"}, 422,
         "target"),
    Case("eviction-options-list", "POST", "pods/slow/eviction?dryRun=All",
         {"deleteOptions": []}, 422, "deleteOptions"),
    Case("token-audiences-string", "POST", "serviceaccounts/sa/token",
         {"spec": {"audiences": "x"}}, 422, "spec.audiences"),
    Case("token-bound-ref-list", "POST", "serviceaccounts/sa/token",
         {"spec": {"boundObjectRef": []}}, 422, "spec.boundObjectRef"),
    Case("ssar-spec-list", "POST", _SSAR, {"spec": []}, 422, "spec"),
    Case("ssar-attributes-string", "POST", _SSAR, {"spec": {"resourceAttributes": "x"}}, 422,
         "spec.resourceAttributes"),
    Case("ssar-verb-number", "POST", _SSAR,
         {"spec": {"resourceAttributes": {"verb": 5, "resource": "pods"}}}, 422,
         "spec.resourceAttributes.verb"),
    # strategic-merge directives of the wrong shape
    Case("set-element-order-scalar", "PATCH", "apps/deployments/web",
         {"spec": {"template": {"spec": {"$setElementOrder/containers": 5}}}}, 400,
         "$setElementOrder", _S),
    Case("set-element-order-scalar-items", "PATCH", "apps/deployments/web",
         {"spec": {"template": {"spec": {"$setElementOrder/containers": [1, None]}}}}, 400,
         "merge key", _S),
    Case("retain-keys-scalar", "PATCH", "apps/deployments/web",
         {"spec": {"$retainKeys": "x"}}, 400, "$retainKeys", _S),
    Case("json-patch-missing-path", "PATCH", "apps/deployments/web",
         [{"op": "test", "path": "/spec/nope/x", "value": 1}], 422, "spec.nope.x", _JP),
    # int32 fields refuse 2^31 and 10^30
    Case("replicas-2^31", "POST", "apps/deployments", _with(_DEPLOY, "spec.replicas", 2**31),
         422, "spec.replicas"),
    Case("replicas-10^30", "POST", "apps/deployments", _with(_DEPLOY, "spec.replicas", 10**30),
         422, "spec.replicas"),
    Case("parallelism-2^31", "POST", "batch/jobs", {
        "metadata": {"name": "j"}, "spec": {"parallelism": 2**31, "completions": 10**30,
                                            "backoffLimit": 2**31, "template": {"spec": {
                                                "restartPolicy": "Never",
                                                "containers": [{"name": "c", "image": "i"}]}}}},
         422, "spec.parallelism"),
    Case("container-port-2^31", "POST", "apps/deployments",
         _with(_DEPLOY, "spec.template.spec.containers[0].ports", [{"containerPort": 2**31}]),
         422, "spec.template.spec.containers[0].ports[0].containerPort"),
    # values upstream refuses
    Case("node-port-out-of-range", "POST", "services", {
        "metadata": {"name": "np"}, "spec": {"type": "NodePort", "selector": {"a": "b"},
                                             "ports": [{"port": 80, "nodePort": 5}]}},
         422, "spec.ports[0].nodePort"),
    Case("ingress-host-inner-wildcard", "POST", "networking/ingresses", {
        "metadata": {"name": "ing"}, "spec": {"rules": [{"host": "a.*.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {
                "name": "s", "port": {"number": 80}}}}]}}]}}, 422, "spec.rules[0].host"),
    Case("post-with-patch-type", "POST", "configmaps", {"metadata": {"name": "m"}}, 415,
         "merge-patch", _M),
    Case("put-with-patch-type", "PUT", "apps/deployments/web", _DEPLOY, 415, "strategic", _S),
    # found by the fuzz suite
    Case("csr-status-string", "PATCH", f"{_CSRS}/issue14/status", {"status": "x"}, 422,
         "status", _M),
]

_PREFIXES = {"apps": "/apis/apps/v1", "batch": "/apis/batch/v1",
             "networking": "/apis/networking.k8s.io/v1"}


def _url(ns: str, path: str) -> str:
    if path.startswith("/"):
        return path
    group, _, rest = path.partition("/")
    if group in _PREFIXES:
        return f"{_PREFIXES[group]}/namespaces/{ns}/{rest}"
    return f"/api/v1/namespaces/{ns}/{path}"


@pytest.fixture(scope="module")
def bad_ns(apiserver_sqlite: ApiServer) -> str:
    ns = "issue14"
    server = apiserver_sqlite
    for path, body in [("/api/v1/namespaces", {"metadata": {"name": ns}}),
                       (f"/apis/apps/v1/namespaces/{ns}/deployments", _DEPLOY),
                       (f"/api/v1/namespaces/{ns}/pods", _POD),
                       (f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "sa"}}),
                       (_CSRS, fuzzing.seed(fuzzing.kind_named("CertificateSigningRequest"),
                                            "issue14"))]:
        reply = call(server, "POST", path, body)
        assert reply.status in (201, 409), reply.body
    return ns


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_issue14_bad_input(apiserver_sqlite: ApiServer, bad_ns: str, case: Case) -> None:
    body = case.body if case.body is None or isinstance(case.body, str) else json.dumps(
        case.body)
    reply = call(apiserver_sqlite, case.method, _url(bad_ns, case.path), body,
                 content_type=case.content_type)
    assert reply.status == case.status, reply.body
    if reply.status < 400:
        return
    status = reply.body
    assert status["kind"] == "Status" and status["apiVersion"] == "v1", status
    assert status["code"] == case.status, status
    if case.status == 422:
        fields = [c["field"] for c in status["details"]["causes"]]
        assert case.expect in fields, status
        assert case.expect in status["message"], status
    else:
        assert case.expect in status["message"], status
