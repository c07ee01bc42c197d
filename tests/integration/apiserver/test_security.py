"""Security acceptance: authentication (certs, tokens), RBAC and the Node authorizer, and
Secrets encrypted at rest in both backends."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kboot.controlplane.apiserver import tokens
from kboot.pki import CertSpec, issue, new_ca, save_pair
from kboot.pki.keys import key_from_pem
from tests.fixtures.apiserver import BOOTSTRAP_TOKEN, STATIC_TOKEN, ApiServer
from tests.fixtures.etcd import EtcdCluster
from tests.integration.apiserver.http import call
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def test_no_credentials_is_401(server: ApiServer) -> None:
    reply = call(server, "GET", "/api/v1/namespaces", anonymous=True)
    assert reply.status == 401 and reply.body["reason"] == "Unauthorized"
    assert call(server, "GET", "/version", anonymous=True).body["minor"] == "32"
    assert call(server, "GET", "/api/v1/namespaces", token="wrong-token").status == 401


def test_tokens_authenticate_and_rbac_forbids(server: ApiServer, ns: str) -> None:
    reply = call(server, "GET", "/api/v1/namespaces/default/secrets", token=STATIC_TOKEN)
    assert reply.status == 403
    assert reply.body["message"] == ('secrets is forbidden: User "static-user" cannot list '
                                     'resource "secrets" in API group "" in the namespace '
                                     '"default"')
    assert call(server, "GET", "/api", token=STATIC_TOKEN).status == 200
    boot = call(server, "GET", "/api/v1/nodes/nobody", token=BOOTSTRAP_TOKEN)
    assert boot.status == 404  # node-bootstrapper may get nodes
    assert call(server, "GET", "/api/v1/secrets", token=BOOTSTRAP_TOKEN).status == 403


def test_service_account_token(server: ApiServer, ns: str) -> None:
    assert call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": ns}}).status == 201
    sa = call(server, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
              {"metadata": {"name": "robot"}})
    assert sa.status == 201
    key = key_from_pem(server.sa_key_file.read_bytes())
    assert isinstance(key, rsa.RSAPrivateKey)
    token = tokens.issue(key, namespace=ns, name="robot", uid=sa.body["metadata"]["uid"],
                         now=time.time())
    denied = call(server, "GET", f"/api/v1/namespaces/{ns}/pods", token=token)
    assert denied.status == 403
    assert f'"system:serviceaccount:{ns}:robot"' in denied.body["message"]
    binding = {"metadata": {"name": "robot-view"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "view"},
               "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": ns}]}
    assert call(server, "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/"
                "rolebindings", binding).status == 201
    assert _eventually(lambda: call(server, "GET", f"/api/v1/namespaces/{ns}/pods",
                                    token=token).status == 200)
    other = tokens.issue(key, namespace=ns, name="ghost", uid="x", now=time.time())
    assert call(server, "GET", f"/api/v1/namespaces/{ns}/pods", token=other).status == 401


def _eventually(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    """``check`` holds within a generous deadline (RBAC and token caches settle)."""
    return wait_until("the access check", check, timeout=timeout, interval=0.05)


def _pod(name: str, node: str, secret: str) -> dict[str, object]:
    return {"metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}],
                     "volumes": [{"name": "s", "secret": {"secretName": secret}}]}}


def test_node_reads_only_its_pods_secrets(server: ApiServer, ns: str) -> None:
    assert call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": ns}}).status == 201
    for n in ("1", "2"):
        assert call(server, "POST", f"/api/v1/namespaces/{ns}/secrets",
                    {"metadata": {"name": f"s{n}"}, "data": {"k": "dg=="}}).status == 201
        assert call(server, "POST", f"/api/v1/namespaces/{ns}/pods",
                    _pod(f"p{n}", f"{ns}-n{n}", f"s{n}")).status == 201
    node1 = server.identity(f"system:node:{ns}-n1", ("system:nodes",))
    assert _eventually(lambda: call(server, "GET", f"/api/v1/namespaces/{ns}/secrets/s1",
                                    identity=node1).status == 200)
    other = call(server, "GET", f"/api/v1/namespaces/{ns}/secrets/s2", identity=node1)
    assert other.status == 403 and other.body["reason"] == "Forbidden"
    assert call(server, "GET", f"/api/v1/namespaces/{ns}/secrets", identity=node1).status == 403
    pods = call(server, "GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{ns}-n1",
                identity=node1)
    assert pods.status == 200 and [p["metadata"]["name"] for p in pods.body["items"]] == ["p1"]
    status = {"status": {"phase": "Running"}}
    assert call(server, "PATCH", f"/api/v1/namespaces/{ns}/pods/p1/status", status,
                content_type="application/merge-patch+json", identity=node1).status == 200
    assert call(server, "PATCH", f"/api/v1/namespaces/{ns}/pods/p2/status", status,
                content_type="application/merge-patch+json", identity=node1).status == 403


PLAINTEXT = "top-secret-value-for-at-rest-test"


def _create_secret(server: ApiServer, ns: str) -> None:
    assert call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": ns}}).status == 201
    assert call(server, "POST", f"/api/v1/namespaces/{ns}/secrets",
                {"metadata": {"name": "at-rest"}, "stringData": {"v": PLAINTEXT}}).status == 201
    got = call(server, "GET", f"/api/v1/namespaces/{ns}/secrets/at-rest")
    assert base64.b64decode(got.body["data"]["v"]).decode() == PLAINTEXT


def test_secrets_encrypted_in_sqlite(apiserver_sqlite: ApiServer) -> None:
    _create_secret(apiserver_sqlite, "at-rest-sqlite")
    db = Path(apiserver_sqlite.store_url.removeprefix("sqlite://"))
    data = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert b"/registry/secrets/at-rest-sqlite/at-rest" in data  # the key is there …
    encoded = base64.b64encode(PLAINTEXT.encode())
    assert PLAINTEXT.encode() not in data and encoded not in data  # … the value is not
    assert b"k8s:enc:aesgcm:v1:key1:" in data


def test_secrets_encrypted_in_etcd(apiserver_etcd: ApiServer, etcd_server: EtcdCluster) -> None:
    ns = f"at-rest-etcd-{uuid.uuid4().hex[:6]}"
    _create_secret(apiserver_etcd, ns)
    proc = etcd_server.etcdctl("get", f"/registry/secrets/{ns}/at-rest", "-w", "json")
    assert isinstance(proc, subprocess.CompletedProcess) and proc.returncode == 0
    value = base64.b64decode(json.loads(proc.stdout)["kvs"][0]["value"])
    assert value.startswith(b"k8s:enc:aesgcm:v1:key1:")
    assert PLAINTEXT.encode() not in value
    assert base64.b64encode(PLAINTEXT.encode()) not in value


def test_auth_can_i(server: ApiServer) -> None:
    node = server.identity("system:node:can-i-node", ("system:nodes",))
    assert server.kubectl("auth", "can-i", "create", "deployments").stdout.strip() == "yes"
    allowed = server.kubectl("auth", "can-i", "list", "pods", identity=node)
    assert allowed.returncode == 0 and allowed.stdout.strip() == "yes"
    denied = server.kubectl("auth", "can-i", "get", "secrets/other", identity=node)
    assert denied.returncode == 1 and denied.stdout.startswith("no")


def test_token_request(server: ApiServer, ns: str) -> None:
    assert call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": ns}}).status == 201
    assert call(server, "POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                {"metadata": {"name": "builder"}}).status == 201
    made = server.kubectl("create", "token", "builder", "-n", ns, "--duration=1h")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    denied = call(server, "GET", f"/api/v1/namespaces/{ns}/pods", token=token)
    assert denied.status == 403 and f"system:serviceaccount:{ns}:builder" in denied.body["message"]
    node = server.identity(f"system:node:{ns}-n", ("system:nodes",))
    path = f"/api/v1/namespaces/{ns}/serviceaccounts/builder/token"
    bound = {"spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "p"}}}
    assert call(server, "POST", path, bound, identity=node).status == 403
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": f"{ns}-n",
                                               "serviceAccountName": "builder",
                                               "containers": [{"name": "c", "image": "b"}]}}
    assert call(server, "POST", f"/api/v1/namespaces/{ns}/pods", pod).status == 201
    assert _eventually(lambda: call(server, "POST", path, bound,
                                    identity=node).status == 201)
    # NodeRestriction: a node's tokens are bound to one of its pods
    unbound = call(server, "POST", path, {"spec": {}}, identity=node)
    assert unbound.status == 403
    assert unbound.body["message"].endswith("node requested token not bound to a pod")


def test_plain_http_is_refused(server: ApiServer) -> None:
    """TLS is always on: a plaintext request gets no API answer."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/api/v1/namespaces")
        status = conn.getresponse().status
    except (http.client.HTTPException, OSError):
        status = None  # the TLS server drops the connection
    finally:
        conn.close()
    assert status in (None, 400)  # never 200: no plaintext API


def test_client_cert_from_another_ca_is_rejected(server: ApiServer, tmp_path: Path) -> None:
    """Only certificates of --client-ca-file authenticate (here: a forged system:masters)."""
    stranger = issue(new_ca("stranger-ca"), CertSpec("kubernetes-admin", ("system:masters",),
                                                     client=True))
    cert, key = save_pair(stranger, tmp_path, "stranger")
    ctx = ssl.create_default_context(cafile=str(server.ca_file))
    ctx.load_cert_chain(str(cert), str(key))
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"{server.url}/api/v1/secrets", context=ctx, timeout=10).read()
