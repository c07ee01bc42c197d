"""Bad input gets upstream's Status errors (400/404/409/415/422), never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.apiserver import ApiServer
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
