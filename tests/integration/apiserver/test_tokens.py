"""ServiceAccount tokens checked as upstream (issue 14): audience, the account's uid, the bound
Pod's or Secret's uid, legacy Secret-based tokens, and credentials that are not ASCII.

A token that authenticates but lacks permissions gets 403; one that no longer authenticates
gets 401 — the tests tell the two apart with a request the account is not allowed.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kboot.controlplane.apiserver import tokens
from kboot.pki.keys import key_from_pem
from tests.fixtures.apiserver import ApiServer
from tests.integration.apiserver.http import call
from tests.integration.apiserver.rbac_helpers import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def ns(server: ApiServer, namespace: str) -> str:
    """A fresh namespace with the ServiceAccount ``robot``."""
    assert call(server, "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts",
                {"metadata": {"name": "robot"}}).status == 201
    return namespace


def _signing_key(server: ApiServer) -> rsa.RSAPrivateKey:
    key = key_from_pem(server.sa_key_file.read_bytes())
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _request_token(server: ApiServer, ns: str, spec: dict[str, Any]) -> str:
    reply = call(server, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts/robot/token",
                 {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                  "spec": spec})
    assert reply.status == 201, reply.body
    return str(reply.body["status"]["token"])


def _status(server: ApiServer, ns: str, token: str) -> int:
    """401: the token names nobody; 403: it authenticates (the account may not list pods)."""
    return call(server, "GET", f"/api/v1/namespaces/{ns}/pods", token=token).status


def _claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def _uid(server: ApiServer, path: str) -> str:
    reply = call(server, "GET", path)
    assert reply.status == 200, reply.body
    return str(reply.body["metadata"]["uid"])


def test_audience_must_be_the_apiservers(server: ApiServer, ns: str) -> None:
    default = _request_token(server, ns, {})
    assert _claims(default)["aud"] == [tokens.ISSUER]
    assert _status(server, ns, default) == 403
    foreign = _request_token(server, ns, {"audiences": ["https://vault.example.com"]})
    assert _status(server, ns, foreign) == 401
    mixed = _request_token(server, ns, {"audiences": ["https://vault.example.com",
                                                      tokens.ISSUER]})
    assert _status(server, ns, mixed) == 403
    other_issuer = tokens.issue(_signing_key(server), namespace=ns, name="robot",
                                uid=_uid(server, f"/api/v1/namespaces/{ns}/serviceaccounts/robot"),
                                issuer="https://issuer.example.com", now=time.time())
    assert _status(server, ns, other_issuer) == 401


def test_recreated_service_account_invalidates_its_tokens(server: ApiServer, ns: str) -> None:
    account = f"/api/v1/namespaces/{ns}/serviceaccounts/robot"
    old_uid = _uid(server, account)
    token = _request_token(server, ns, {})
    assert _status(server, ns, token) == 403
    assert call(server, "DELETE", account).status == 200
    wait_until(lambda: _status(server, ns, token) == 401, "the deleted account's token fails")
    assert call(server, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                {"metadata": {"name": "robot"}}).status == 201
    assert _uid(server, account) != old_uid
    fresh = _request_token(server, ns, {})
    wait_until(lambda: _status(server, ns, fresh) == 403, "the new account's token works")
    assert _status(server, ns, token) == 401  # same name, other uid


def _pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "spec": {"serviceAccountName": "robot",
                     "containers": [{"name": "c", "image": "busybox"}]}}


def test_pod_bound_token_ends_with_the_pod(server: ApiServer, ns: str) -> None:
    pods = f"/api/v1/namespaces/{ns}/pods"
    assert call(server, "POST", pods, _pod("worker")).status == 201
    pod_uid = _uid(server, f"{pods}/worker")
    ref = {"apiVersion": "v1", "kind": "Pod", "name": "worker"}
    token = _request_token(server, ns, {"boundObjectRef": ref})
    assert _claims(token)["kubernetes.io"]["pod"] == {"name": "worker", "uid": pod_uid}
    wrong = call(server, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts/robot/token",
                 {"spec": {"boundObjectRef": {**ref, "uid": "not-the-uid"}}})
    assert wrong.status == 409 and wrong.body["reason"] == "Conflict"
    missing = call(server, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts/robot/token",
                   {"spec": {"boundObjectRef": {**ref, "name": "nobody"}}})
    assert missing.status == 404
    assert _status(server, ns, token) == 403
    assert call(server, "DELETE", f"{pods}/worker").status == 200
    wait_until(lambda: _status(server, ns, token) == 401, "the deleted pod's token fails")
    # a new pod of the same name is another object: the token stays dead
    assert call(server, "POST", pods, _pod("worker")).status == 201
    assert _uid(server, f"{pods}/worker") != pod_uid
    fresh = _request_token(server, ns, {"boundObjectRef": ref})
    wait_until(lambda: _status(server, ns, fresh) == 403, "the new pod's token works")
    assert _status(server, ns, token) == 401


def test_secret_bound_token_ends_with_the_secret(server: ApiServer, ns: str) -> None:
    secrets = f"/api/v1/namespaces/{ns}/secrets"
    assert call(server, "POST", secrets, {"metadata": {"name": "anchor"}}).status == 201
    token = _request_token(server, ns, {"boundObjectRef": {"apiVersion": "v1",
                                                           "kind": "Secret",
                                                           "name": "anchor"}})
    assert _status(server, ns, token) == 403
    assert call(server, "DELETE", f"{secrets}/anchor").status == 200
    wait_until(lambda: _status(server, ns, token) == 401, "the deleted secret's token fails")


def _legacy_token(server: ApiServer, ns: str, secret: str, uid: str) -> str:
    """A Secret-based token as the legacy token controller minted them (iss
    ``kubernetes/serviceaccount``, no expiry)."""
    claims = {"iss": "kubernetes/serviceaccount", "sub": f"system:serviceaccount:{ns}:robot",
              "kubernetes.io/serviceaccount/namespace": ns,
              "kubernetes.io/serviceaccount/secret.name": secret,
              "kubernetes.io/serviceaccount/service-account.name": "robot",
              "kubernetes.io/serviceaccount/service-account.uid": uid}
    return tokens.sign_claims(_signing_key(server), claims)


def test_legacy_secret_token(server: ApiServer, ns: str) -> None:
    uid = _uid(server, f"/api/v1/namespaces/{ns}/serviceaccounts/robot")
    token = _legacy_token(server, ns, "robot-token", uid)
    assert _status(server, ns, token) == 401  # no Secret holds it yet
    secret = {"metadata": {"name": "robot-token",
                           "annotations": {"kubernetes.io/service-account.name": "robot",
                                           "kubernetes.io/service-account.uid": uid}},
              "type": "kubernetes.io/service-account-token",
              "data": {"token": base64.b64encode(token.encode()).decode()}}
    secrets = f"/api/v1/namespaces/{ns}/secrets"
    assert call(server, "POST", secrets, secret).status == 201
    wait_until(lambda: _status(server, ns, token) == 403, "the stored legacy token works")
    forged = _legacy_token(server, ns, "robot-token", uid + "-x")  # not the stored copy
    assert _status(server, ns, forged) == 401
    assert call(server, "DELETE", f"{secrets}/robot-token").status == 200
    wait_until(lambda: _status(server, ns, token) == 401, "the deleted secret's token fails")


@pytest.mark.parametrize("header", [b"Bearer \xff\xfe\xfd", "Bearer töken".encode(),
                                    b"Bearer \xe2\x82\xac" + b"a" * 40, b"Basic \xe9\xe9",
                                    b"\xc3\xa9"])
def test_non_ascii_credentials_are_401(server: ApiServer, header: bytes) -> None:
    tracebacks = server.log().count("Traceback")
    ctx = ssl.create_default_context(cafile=str(server.ca_file))
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=30)
    try:
        conn.putrequest("GET", "/api/v1/namespaces")
        conn.putheader("Authorization", header)
        conn.endheaders()
        response = conn.getresponse()
        status, body = response.status, json.loads(response.read())
    finally:
        conn.close()
    assert status == 401
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    # the server logs with line-buffered stderr: a traceback would be there by now
    assert server.log().count("Traceback") == tracebacks
