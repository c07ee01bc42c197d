"""PKI files (modes, atomicity), tokens, ServiceAccount keys and kubeconfigs."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kboot.errors import ConfigError
from kboot.pki import (
    CertSpec,
    build_kubeconfig,
    issue,
    kubeconfig_yaml,
    load_pair,
    new_bootstrap_token,
    new_ca,
    new_service_account_key,
    parse_bootstrap_token,
    save_pair,
    write_atomic,
)


def test_save_and_load_pair_with_modes(tmp_path: Path) -> None:
    ca = new_ca("kboot-ca")
    cert_path, key_path = save_pair(ca, tmp_path / "pki", "ca")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert_path.stat().st_mode) == 0o644
    loaded = load_pair(tmp_path / "pki", "ca")
    assert loaded is not None and loaded.cert == ca.cert
    assert loaded.key_pem() == ca.key_pem()
    assert load_pair(tmp_path / "pki", "missing") is None
    assert sorted(p.name for p in (tmp_path / "pki").iterdir()) == ["ca.crt", "ca.key"]


def test_corrupt_pair_is_a_config_error(tmp_path: Path) -> None:
    save_pair(new_ca("ca"), tmp_path, "ca")
    (tmp_path / "ca.crt").write_text("garbage")
    with pytest.raises(ConfigError, match="cannot read certificate pair"):
        load_pair(tmp_path, "ca")


def test_write_atomic_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    write_atomic(target, b"one", mode=0o600)
    write_atomic(target, b"two", mode=0o600)
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]


def test_bootstrap_tokens() -> None:
    tokens = {new_bootstrap_token().value for _ in range(50)}
    assert len(tokens) == 50
    token = parse_bootstrap_token(next(iter(tokens)))
    assert len(token.id) == 6 and len(token.secret) == 16
    assert token.secret not in repr(token)
    for bad in ["abcdef0123456789abcdef", "ABCDEF.0123456789abcdef", "abcde.0123456789abcdef"]:
        with pytest.raises(ValueError):
            parse_bootstrap_token(bad)


def test_service_account_key_signs_and_verifies() -> None:
    private_pem, public_pem = new_service_account_key()
    private = serialization.load_pem_private_key(private_pem, password=None)
    public = serialization.load_pem_public_key(public_pem)
    assert isinstance(private, rsa.RSAPrivateKey) and isinstance(public, rsa.RSAPublicKey)
    signature = private.sign(b"payload", padding.PKCS1v15(), hashes.SHA256())
    public.verify(signature, b"payload", padding.PKCS1v15(), hashes.SHA256())


def test_kubeconfig_with_client_cert() -> None:
    ca = new_ca("kboot-ca")
    admin = issue(ca, CertSpec("admin", organizations=("system:masters",), client=True))
    config = build_kubeconfig(
        cluster_name="lab",
        server="https://10.0.0.10:6443",
        ca_pem=ca.cert_pem(),
        user_name="admin",
        client_cert_pem=admin.cert_pem(),
        client_key_pem=admin.key_pem(),
    )
    doc = yaml.safe_load(kubeconfig_yaml(config))
    assert doc["current-context"] == "admin@lab"
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == "https://10.0.0.10:6443"
    ca_back = x509.load_pem_x509_certificate(
        base64.b64decode(cluster["certificate-authority-data"])
    )
    assert ca_back == ca.cert
    user = doc["users"][0]["user"]
    assert base64.b64decode(user["client-certificate-data"]) == admin.cert_pem()
    assert doc["contexts"][0] == {
        "name": "admin@lab",
        "context": {"cluster": "lab", "user": "admin"},
    }


def test_kubeconfig_with_token_and_namespace() -> None:
    config = build_kubeconfig(
        cluster_name="lab", server="https://lb:6443", ca_pem=b"pem", user_name="kubelet",
        token="abcdef.0123456789abcdef", context_name="boot", namespace="kube-system",
    )  # fmt: skip
    assert config["users"][0]["user"] == {"token": "abcdef.0123456789abcdef"}
    assert config["contexts"][0]["context"]["namespace"] == "kube-system"
    with pytest.raises(ValueError, match="certificate or a token"):
        build_kubeconfig(cluster_name="c", server="s", ca_pem=b"p", user_name="u")
    with pytest.raises(ValueError, match="needs its key"):
        build_kubeconfig(
            cluster_name="c", server="s", ca_pem=b"p", user_name="u", client_cert_pem=b"c"
        )
