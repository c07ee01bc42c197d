"""Kubelet TLS bootstrap end to end on real processes: kboot-apiserver, kboot-controller-manager
(csrapproving, csrsigning, tokencleaner) and the kubelet's bootstrap code, with real kubectl.

A node holding only a bootstrap token gets a CA-signed client certificate for its own name,
with a key that never left it, and acts as that node afterwards; expired or unknown tokens get
nothing; requests that are not plain node client requests wait for a human, who approves or
denies them with ``kubectl certificate``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kboot.controlplane.api import bootstraptokens
from kboot.controlplane.api.certificates import encode_pem
from kboot.controlplane.client.errors import Forbidden, Unauthorized
from kboot.controlplane.client.rest import Client
from kboot.controlplane.client.sync import SyncClient
from kboot.controlplane.kubelet import tlsbootstrap
from kboot.pki import build_kubeconfig, kubeconfig_yaml, new_bootstrap_token, signed_by
from tests.fixtures.apiserver import ApiServer, start_apiserver

from .cluster import FAST_LEASE, PREFIX, ControlPlane, cleanup_strays, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with start_apiserver("memory://") as s:
        yield s


@pytest.fixture(scope="module")
def cp(server: ApiServer) -> Iterator[ControlPlane]:
    cleanup_strays()  # components of a crashed earlier run
    plane = ControlPlane(server, Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")))
    ident = server.identity("system:kube-controller-manager")
    plane.start("cm", "controllers", "--identity=cm-tls", *FAST_LEASE,
                "--controllers=csrapproving,csrsigning,tokencleaner",
                f"--cluster-signing-cert-file={server.ca_file}",
                f"--cluster-signing-key-file={server.ca_file.with_suffix('.key')}",
                "--cluster-signing-duration=2h", kubeconfig=ident.kubeconfig)
    try:
        yield plane
    finally:
        for name in list(plane.procs):
            plane.stop(name)
        shutil.rmtree(plane.work, ignore_errors=True)


@pytest.fixture(scope="module")
def admin(server: ApiServer) -> Iterator[SyncClient]:
    with SyncClient.from_kubeconfig(server.kubeconfig) as c:
        yield c


def _join_token(admin: SyncClient, *, expires: datetime) -> str:
    token = new_bootstrap_token()
    admin.create("secrets", bootstraptokens.token_secret(
        token.id, token.secret, expires=expires, description="test"))
    return token.value


def _bootstrap_kubeconfig(server: ApiServer, path: Path, token: str) -> Path:
    config = build_kubeconfig(cluster_name="t", server=server.url, ca_pem=server.ca.cert_pem(),
                              user_name="kubelet-bootstrap", token=token)
    path.write_text(kubeconfig_yaml(config))
    return path


def _paths(tmp_path: Path, bootstrap: Path | None) -> tlsbootstrap.Paths:
    return tlsbootstrap.Paths(kubeconfig=tmp_path / "kubelet.kubeconfig",
                              bootstrap_kubeconfig=bootstrap, cert_dir=tmp_path / "pki")


def _bootstrap(paths: tlsbootstrap.Paths, node: str, timeout: float = 30) -> None:
    asyncio.run(asyncio.wait_for(tlsbootstrap.ensure_credentials(paths, node), timeout))


def test_a_token_becomes_a_node_certificate_the_node_can_act_with(
        server: ApiServer, cp: ControlPlane, admin: SyncClient, tmp_path: Path) -> None:
    token = _join_token(admin, expires=datetime.now(UTC) + timedelta(hours=1))
    bootstrap = _bootstrap_kubeconfig(server, tmp_path / "bootstrap.kubeconfig", token)
    paths = _paths(tmp_path, bootstrap)
    _bootstrap(paths, "w7")
    assert not bootstrap.exists()  # the token has served; it does not linger on the node
    pem = paths.current.read_bytes()
    assert paths.current.stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(pem)
    assert signed_by(cert, server.ca.cert)
    assert cert.subject.rfc4514_string() in ("CN=system:node:w7,O=system:nodes",
                                             "O=system:nodes,CN=system:node:w7")
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= timedelta(hours=2, minutes=6)
    assert b"PRIVATE KEY" in pem  # the key was made here and is kept beside its certificate
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "w7"}}
    with SyncClient.from_kubeconfig(paths.kubeconfig) as as_node:
        as_node.create("nodes", node)  # the Node authorizer knows it as system:node:w7
        assert as_node.get("nodes", "w7")["metadata"]["name"] == "w7"
    table = server.kubectl("get", "csr")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION",
                              "CONDITION"]
    mine = [r for r in rows if "system:bootstrap:" in r]
    assert mine and all(r.split()[-1] == "Approved,Issued" for r in mine)
    assert all("kubernetes.io/kube-apiserver-client-kubelet" in r for r in mine)
    # a second start reuses the certificate: no new request
    before = len(admin.list("certificatesigningrequests"))
    _bootstrap(_paths(tmp_path, None), "w7")
    assert len(admin.list("certificatesigningrequests")) == before


def test_renewal_is_approved_for_the_node_itself_only(
        server: ApiServer, cp: ControlPlane, admin: SyncClient, tmp_path: Path) -> None:
    token = _join_token(admin, expires=datetime.now(UTC) + timedelta(hours=1))
    paths = _paths(tmp_path, _bootstrap_kubeconfig(server, tmp_path / "b.kubeconfig", token))
    _bootstrap(paths, "w8")
    first = paths.current.read_bytes()

    async def renew(name: str) -> str:
        async with Client.from_kubeconfig(paths.kubeconfig) as c:
            _key_pem, csr_pem = tlsbootstrap.new_request(name)
            created = await c.create("certificatesigningrequests", {
                "metadata": {"generateName": "renew-"},
                "spec": {"request": encode_pem(csr_pem), "usages": tlsbootstrap.USAGES,
                         "signerName": "kubernetes.io/kube-apiserver-client-kubelet"}})
            return str(created["metadata"]["name"])

    own = asyncio.run(renew("w8"))
    other = asyncio.run(renew("w9"))  # a node asking for another node's name
    wait_for("the renewal issued", lambda: (admin.get("certificatesigningrequests", own)
                                            .get("status") or {}).get("certificate"), cp=cp)
    csr = admin.get("certificatesigningrequests", other)
    assert csr["spec"]["username"] == "system:node:w8"
    assert not (csr.get("status") or {}).get("conditions")  # pending: left to a human
    # the rotation path itself: a due certificate is renewed with its own credentials
    asyncio.run(asyncio.wait_for(tlsbootstrap._obtain(paths, paths.kubeconfig, "w8"), 30))
    assert paths.current.read_bytes() != first


def test_expired_or_unknown_tokens_get_nothing(
        server: ApiServer, cp: ControlPlane, admin: SyncClient, tmp_path: Path) -> None:
    expired = _join_token(admin, expires=datetime.now(UTC) - timedelta(seconds=1))
    unknown = new_bootstrap_token().value

    async def ask(token: str) -> None:
        path = _bootstrap_kubeconfig(server, tmp_path / f"{token[:6]}.kubeconfig", token)
        async with Client.from_kubeconfig(path) as c:
            await tlsbootstrap.request_certificate(c, "intruder", timeout=5)

    for token in (expired, unknown):
        with pytest.raises(Unauthorized):
            asyncio.run(ask(token))
    # the token cleaner removes the expired Secret
    name = bootstraptokens.secret_name(expired.split(".")[0])
    wait_for("expired token deleted", lambda: admin.get_or_none(
        "secrets", name, namespace="kube-system") is None, cp=cp)


def _csr(cn: str, orgs: tuple[str, ...] = ()) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    req = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs)).sign(
        key, hashes.SHA256())
    return encode_pem(req.public_bytes(serialization.Encoding.PEM))


def test_humans_approve_or_deny_with_kubectl(server: ApiServer, cp: ControlPlane,
                                             admin: SyncClient) -> None:
    def manifest(name: str, cn: str, signer: str, orgs: tuple[str, ...] = ()) -> str:
        return json.dumps({
            "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {"request": _csr(cn, orgs), "signerName": signer,
                     "usages": ["digital signature", "client auth"],
                     "username": "someone-else", "groups": ["system:masters"]}})

    client_signer = "kubernetes.io/kube-apiserver-client"
    for name, cn in (("alice", "alice"), ("mallory", "mallory")):
        r = server.kubectl("create", "-f", "-", input=manifest(name, cn, client_signer))
        assert r.returncode == 0, r.stderr
    stored = admin.get("certificatesigningrequests", "alice")
    assert stored["spec"]["username"] == "kubernetes-admin"  # the caller, not the body
    assert "system:masters" in stored["spec"]["groups"]
    assert server.kubectl("get", "csr", "alice").stdout.split()[-1] == "Pending"
    assert server.kubectl("certificate", "approve", "alice").returncode == 0
    assert server.kubectl("certificate", "deny", "mallory").returncode == 0
    issued = wait_for("alice issued", lambda: (admin.get("certificatesigningrequests", "alice")
                                               .get("status") or {}).get("certificate"), cp=cp)
    cert = x509.load_pem_x509_certificate(base64.b64decode(issued))
    assert signed_by(cert, server.ca.cert)
    assert server.kubectl("get", "csr", "alice").stdout.split()[-1] == "Approved,Issued"
    assert server.kubectl("get", "csr", "mallory").stdout.split()[-1] == "Denied"
    assert not (admin.get("certificatesigningrequests", "mallory").get("status") or {}).get(
        "certificate")
    # approval cannot be withdrawn, the spec cannot change
    r = server.kubectl("certificate", "deny", "alice")
    assert r.returncode != 0 or "Denied" not in server.kubectl("get", "csr", "alice").stdout
    obj = yaml.safe_load(server.kubectl("get", "csr", "alice", "-o", "yaml").stdout)
    obj["spec"]["usages"] = ["client auth"]
    r = server.kubectl("replace", "-f", "-", input=json.dumps(obj))
    assert r.returncode != 0 and "immutable" in r.stderr


def test_a_node_request_from_a_stranger_fails_at_the_signer(
        server: ApiServer, cp: ControlPlane, admin: SyncClient) -> None:
    r = server.kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": "not-a-node"},
        "spec": {"request": _csr("root", ("system:masters",)),
                 "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                 "usages": ["digital signature", "client auth"]}}))
    assert r.returncode == 0, r.stderr
    assert server.kubectl("certificate", "approve", "not-a-node").returncode == 0
    failed = wait_for("signer refuses", lambda: [
        c for c in (admin.get("certificatesigningrequests", "not-a-node").get("status") or {})
        .get("conditions", []) if c["type"] == "Failed"], cp=cp)
    assert failed[0]["reason"] == "SignerValidationFailure"
    assert not (admin.get("certificatesigningrequests", "not-a-node").get("status") or {}).get(
        "certificate")


def test_bootstrappers_may_not_do_more_than_ask(server: ApiServer, admin: SyncClient,
                                               tmp_path: Path) -> None:
    token = _join_token(admin, expires=datetime.now(UTC) + timedelta(hours=1))
    path = _bootstrap_kubeconfig(server, tmp_path / "b.kubeconfig", token)

    async def snoop() -> None:
        async with Client.from_kubeconfig(path) as c:
            await c.list("secrets", namespace="kube-system")

    with pytest.raises(Forbidden):
        asyncio.run(snoop())
