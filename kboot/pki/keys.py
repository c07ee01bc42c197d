"""Private keys: generation and PEM encoding for CAs, leaf certificates and ServiceAccounts.

ECDSA P-256 is the default (small, fast handshakes; every TLS stack we talk to accepts it); RSA
2048 stays available for peers that want it and is what ServiceAccount tokens are signed with
(RS256 is the algorithm every Kubernetes client library verifies).
"""

from __future__ import annotations

from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

KeyType = Literal["ecdsa-p256", "rsa-2048"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def new_private_key(key_type: KeyType = "ecdsa-p256") -> PrivateKey:
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key type {key_type!r} (expected ecdsa-p256 or rsa-2048)")


def key_to_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted: the file's 0600 mode is the protection (as upstream does)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_to_pem(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_from_pem(data: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"unsupported private key type {type(key).__name__}")
    return key


def new_service_account_key() -> tuple[bytes, bytes]:
    """An RSA 2048 key pair for signing ServiceAccount tokens: ``(private_pem, public_pem)``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key_to_pem(key), public_key_to_pem(key.public_key())
