from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import yaml
from cryptography import x509

from kboot.cluster.pki import ensure_pki
from kboot.cluster.topology import Node, Topology
from kboot.pki import signed_by


def _topo(*nodes: Node) -> Topology:
    return Topology("t", nodes, "10.244.0.0/16", "10.96.0.0/16", "cluster.local", None, False)


CP = Node("cp1", "10.0.0.11", control_plane=True, etcd=True, worker=False)
W = Node("w1", "10.0.0.21", control_plane=False, etcd=False, worker=True)


def _cert(path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def test_push_lists_by_role_and_keys_private(tmp_path: Path) -> None:
    result = ensure_pki(tmp_path, _topo(CP, W))
    cp = {f.dest: f for f in result.files["cp1"]}
    w = {f.dest: f for f in result.files["w1"]}
    assert "/etc/kboot/pki/apiserver.key" in cp and "/etc/kboot/pki/etcd/peer.key" in cp
    assert "/etc/kboot/pki/apiserver.key" not in w and "/etc/kboot/pki/sa.key" not in w
    # nodes get no kubelet client credentials from the workstation (TLS bootstrap makes them
    # on the node); only control planes hold the CA key, for the CSR signer
    assert not any("kubelet.kubeconfig" in d or "kubelet-client" in d for d in w)
    assert "/etc/kboot/pki/ca.key" in cp and "/etc/kboot/pki/ca.key" not in w
    for f in [*cp.values(), *w.values()]:
        if f.dest.endswith(".key"):
            assert f.mode == "0600"
            assert stat.S_IMODE(Path(f.src).stat().st_mode) == 0o600


def test_apiserver_cert_sans_and_chain(tmp_path: Path) -> None:
    result = ensure_pki(tmp_path, _topo(CP, W))
    cp = {f.dest: f.src for f in result.files["cp1"]}
    cert = _cert(cp["/etc/kboot/pki/apiserver.crt"])
    ca = _cert(cp["/etc/kboot/pki/ca.crt"])
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(i) for i in sans.get_values_for_type(x509.IPAddress)}
    assert {"10.0.0.11", "127.0.0.1", "10.96.0.1"} <= ips
    assert "kubernetes.default.svc.cluster.local" in sans.get_values_for_type(x509.DNSName)
    assert signed_by(cert, ca)
    etcd = _cert(cp["/etc/kboot/pki/etcd/server.crt"])
    assert not signed_by(etcd, ca)  # etcd has its own CA


def test_second_run_reuses_and_sans_change_reissues(tmp_path: Path) -> None:
    first = ensure_pki(tmp_path, _topo(CP, W))
    assert first.changed
    assert ensure_pki(tmp_path, _topo(CP, W)).changed == []
    moved = Node("cp1", "10.0.0.99", control_plane=True, etcd=True, worker=False)
    third = ensure_pki(tmp_path, _topo(moved, W))
    assert "nodes/cp1/apiserver" in third.changed
    assert "pki/ca" not in third.changed  # the CA is never regenerated


def test_bootstrap_kubeconfig_carries_the_join_token_and_no_static_bootstrap_token(
        tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.parent.mkdir(parents=True, exist_ok=True)
    tokens.write_text("abc123.0123456789abcdef,kubelet-bootstrap,10001,\"system:bootstrappers\"\n"
                      "s3cret,ops,42\n")  # what an older kboot wrote, plus an admin's own line
    result = ensure_pki(tmp_path, _topo(CP, W))
    doc = yaml.safe_load(result.bootstrap_kubeconfig.read_text())
    token = doc["users"][0]["user"]["token"]
    saved = json.loads((tmp_path / "join-token.json").read_text())
    assert token == saved["token"] and re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", token)
    assert doc["clusters"][0]["cluster"] == {  # the pushed bundle: follows a CA rotation
        "server": "https://127.0.0.1:6443", "certificate-authority": "/etc/kboot/pki/ca.crt"}
    assert stat.S_IMODE(result.bootstrap_kubeconfig.stat().st_mode) == 0o600
    assert tokens.read_text() == "s3cret,ops,42\n"  # the never-expiring join token is gone
    again = ensure_pki(tmp_path, _topo(CP, W))
    assert again.bootstrap_kubeconfig.read_text() == result.bootstrap_kubeconfig.read_text()
