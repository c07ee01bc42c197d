"""Error bodies byte for byte as kube-apiserver writes them (404, 409, 403, 422).

Clients compare them as strings (the Python client's e2e suite checks a 409's text), so field
order (``kind, apiVersion, metadata, status, message, reason, details{name, group, kind,
causes}, code``), omitted empty fields and the trailing newline all matter. Each expected body
is one recorded from a real kube-apiserver (sources in the comments), requested here with the
same names.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.fixtures.apiserver import ApiServer, Identity

pytestmark = pytest.mark.integration

# kube-apiserver's 404 for a missing ConfigMap (a Python client's log, HTTP response body)
NOT_FOUND = (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
             b'"configmaps \\"rrs-mon-static\\" not found","reason":"NotFound","details":'
             b'{"name":"rrs-mon-static","kind":"configmaps"},"code":404}\n')
# the Python client's own e2e suite (test_utils.py, multi-conflict test), one occurrence
ALREADY_EXISTS = (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                  b'"message":"deployments.apps \\"triple-nginx\\" already exists","reason":'
                  b'"AlreadyExists","details":{"name":"triple-nginx","group":"apps","kind":'
                  b'"deployments"},"code":409}\n')
# fluent-bit's debug log of a denied get, and a client's log of a denied list (no name: omitted)
FORBIDDEN_GET = (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                 b'"message":"pods \\"manjob3-t4d9l\\" is forbidden: User \\"system:'
                 b'serviceaccount:default:default\\" cannot get resource \\"pods\\" in API group '
                 b'\\"\\" in the namespace \\"default\\"","reason":"Forbidden","details":{"name":'
                 b'"manjob3-t4d9l","kind":"pods"},"code":403}\n')
FORBIDDEN_LIST = (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                  b'"message":"pods is forbidden: User \\"system:serviceaccount:default:default'
                  b'\\" cannot list resource \\"pods\\" in API group \\"\\" in the namespace '
                  b'\\"default\\"","reason":"Forbidden","details":{"kind":"pods"},"code":403}\n')
# a 422 for Deployment "test_deploy" with no containers, recorded from a kube-apiserver before
# 1.30; since then (and in kboot, which follows 1.32) the name rule reads "a lowercase RFC 1123
# subdomain" instead of "a DNS-1123 subdomain" — the one substitution made here
_DNS = (b"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
        b"'-' or '.', and must start and end with an alphanumeric character (e.g. "
        b"'example.com', regex used for validation is "
        b"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
INVALID = (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
           b'"Deployment.apps \\"test_deploy\\" is invalid: [metadata.name: Invalid value: '
           b'\\"test_deploy\\": ' + _DNS + b', spec.template.spec.containers: Required value]",'
           b'"reason":"Invalid","details":{"name":"test_deploy","group":"apps","kind":'
           b'"Deployment","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: '
           b'\\"test_deploy\\": ' + _DNS + b'","field":"metadata.name"},{"reason":'
           b'"FieldValueRequired","message":"Required value","field":'
           b'"spec.template.spec.containers"}]},"code":422}\n')


def _raw(server: ApiServer, method: str, path: str, body: object = None,
         identity: Identity | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=server.ssl_context(identity), timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _deployment(name: str, containers: list[dict[str, str]]) -> dict[str, object]:
    labels = {"app": name.replace("_", "-")}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels}, "spec": {"containers": containers}}}}


def test_error_bodies_are_upstreams_bytes(apiserver: ApiServer) -> None:
    assert _raw(apiserver, "GET", "/api/v1/namespaces/default/configmaps/rrs-mon-static"
                ) == (404, NOT_FOUND)
    deployments = "/apis/apps/v1/namespaces/default/deployments"
    nginx = _deployment("triple-nginx", [{"name": "nginx", "image": "nginx:1.27"}])
    assert _raw(apiserver, "POST", deployments, nginx)[0] == 201
    assert _raw(apiserver, "POST", deployments, nginx) == (409, ALREADY_EXISTS)
    assert _raw(apiserver, "POST", deployments, _deployment("test_deploy", [])) == (422, INVALID)
    sa = apiserver.identity("system:serviceaccount:default:default")
    assert _raw(apiserver, "GET", "/api/v1/namespaces/default/pods/manjob3-t4d9l", identity=sa
                ) == (403, FORBIDDEN_GET)
    assert _raw(apiserver, "GET", "/api/v1/namespaces/default/pods", identity=sa
                ) == (403, FORBIDDEN_LIST)
