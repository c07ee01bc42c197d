"""CAs and leaf certificates: chains verify, SANs/CN/O say what the spec says, TLS works."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from kboot.pki import CertSpec, KeyType, cert_info, issue, new_ca, save_pair, signed_by


def _now() -> datetime.datetime:
    """Read at use: a suite can run long past import time (certificates are backdated 5 min)."""
    return datetime.datetime.now(datetime.UTC)
SERVER = CertSpec(
    "kube-apiserver",
    dns_names=("localhost", "kubernetes.default.svc"),
    ip_addresses=("127.0.0.1", "10.96.0.1"),
    server=True,
)


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "rsa-2048"])
def test_ca_and_server_leaf_verify(key_type: KeyType) -> None:
    ca = new_ca("kboot-ca", key_type=key_type)
    leaf = issue(ca, SERVER, key_type=key_type)
    expected = ec.EllipticCurvePrivateKey if key_type == "ecdsa-p256" else rsa.RSAPrivateKey
    assert isinstance(leaf.key, expected)
    verifier = (
        PolicyBuilder()
        .store(Store([ca.cert]))
        .time(_now())
        .build_server_verifier(x509.DNSName("kubernetes.default.svc"))
    )
    chain = verifier.verify(leaf.cert, [])
    assert chain[-1] == ca.cert
    ip_verifier = (
        PolicyBuilder()
        .store(Store([ca.cert]))
        .time(_now())
        .build_server_verifier(x509.IPAddress(ipaddress.ip_address("10.96.0.1")))
    )
    ip_verifier.verify(leaf.cert, [])
    with pytest.raises(VerificationError):
        PolicyBuilder().store(Store([ca.cert])).time(_now()).build_server_verifier(
            x509.DNSName("evil.example")
        ).verify(leaf.cert, [])


def test_other_ca_does_not_verify() -> None:
    ca, other = new_ca("a"), new_ca("b")
    leaf = issue(ca, SERVER)
    assert signed_by(leaf.cert, ca.cert) and not signed_by(leaf.cert, other.cert)
    with pytest.raises(VerificationError):
        PolicyBuilder().store(Store([other.cert])).time(_now()).build_server_verifier(
            x509.DNSName("localhost")
        ).verify(leaf.cert, [])


def test_client_cert_subject_and_usage() -> None:
    ca = new_ca("kboot-ca")
    leaf = issue(ca, CertSpec("system:node:w1", organizations=("system:nodes",), client=True))
    subject = leaf.cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:w1"
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "system:nodes"
    ]
    eku = leaf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    # cryptography's client verifier insists on a SAN; Kubernetes client certs carry none,
    # so check the signature directly (the TLS handshake test checks OpenSSL accepts it).
    assert signed_by(leaf.cert, ca.cert)


def test_lifetimes_and_ca_constraints() -> None:
    ca = new_ca("kboot-ca")
    info = cert_info(ca.cert)
    assert info.is_ca and 3649 <= (info.not_after - _now()).days <= 3650
    leaf_info = cert_info(issue(ca, SERVER).cert)
    assert not leaf_info.is_ca and 364 <= (leaf_info.not_after - _now()).days <= 365
    assert leaf_info.not_before < _now(), "backdated for clock skew"
    assert leaf_info.issuer == "kboot-ca"
    assert set(leaf_info.dns_names) == set(SERVER.dns_names)
    assert set(leaf_info.ip_addresses) == set(SERVER.ip_addresses)
    long = issue(ca, CertSpec("x", client=True, days=20_000))
    assert long.cert.not_valid_after_utc <= ca.cert.not_valid_after_utc, "never outlives its CA"


def test_leaf_needs_a_usage() -> None:
    with pytest.raises(ValueError, match="server or client"):
        issue(new_ca("ca"), CertSpec("nothing"))


def test_mutual_tls_handshake_with_issued_certs(tmp_path: Path) -> None:
    ca = new_ca("kboot-ca")
    ca_file, _ = save_pair(ca, tmp_path, "ca")
    srv_crt, srv_key = save_pair(issue(ca, SERVER), tmp_path, "server")
    cli_crt, cli_key = save_pair(
        issue(ca, CertSpec("admin", organizations=("system:masters",), client=True)),
        tmp_path,
        "admin",
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca_file))
    server_ctx.load_cert_chain(srv_crt, srv_key)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.create_default_context(cafile=str(ca_file))
    client_ctx.load_cert_chain(cli_crt, cli_key)
    seen: dict[str, object] = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                seen["peer"] = tls.getpeercert()
                tls.sendall(b"ok")

        thread = threading.Thread(target=serve)
        thread.start()
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            assert tls.recv(2) == b"ok"
        thread.join(5)
    peer = seen["peer"]
    assert isinstance(peer, dict)
    assert (("commonName", "admin"),) in peer["subject"]
