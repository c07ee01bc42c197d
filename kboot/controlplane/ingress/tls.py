"""``kubernetes.io/tls`` Secrets to the PEM haproxy loads (certificate chain + key in one file).

Each Secret is checked here — it parses, and the key belongs to the certificate — because one
bad PEM would make ``haproxy -c`` reject the whole configuration and so break every Ingress;
a bad Secret must only cost its own Ingress its TLS.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kboot.controlplane.errors import ControlPlaneError

TLS_TYPE = "kubernetes.io/tls"


class SecretError(ControlPlaneError, ValueError):
    """The Secret cannot serve TLS; the message says why (never its contents)."""


def _field(secret: dict[str, Any], name: str) -> bytes:
    value = (secret.get("data") or {}).get(name)
    if not value:
        raise SecretError(f"has no {name}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SecretError(f"{name} is not valid base64") from None


def tls_pem(secret: dict[str, Any]) -> bytes:
    """Certificate chain followed by the private key, as haproxy's ``crt`` wants it."""
    if secret.get("type") != TLS_TYPE:
        raise SecretError(f"type is {secret.get('type')!r}, not {TLS_TYPE}")
    cert_pem, key_pem = _field(secret, "tls.crt"), _field(secret, "tls.key")
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise SecretError("tls.crt is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise SecretError("tls.key is not an unencrypted PEM private key") from None
    raw = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if cert.public_key().public_bytes(enc, raw) != key.public_key().public_bytes(enc, raw):
        raise SecretError("tls.key does not match tls.crt")
    return cert_pem.rstrip(b"\n") + b"\n" + key_pem.rstrip(b"\n") + b"\n"
