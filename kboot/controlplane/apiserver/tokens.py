"""ServiceAccount tokens: compact JWS (RS256/ES256) signed with the service-account key.

No JWT library is a dependency; the format is small: ``b64url(header).b64url(claims).b64url(sig)``.
The apiserver verifies with every public key of ``--service-account-key-file`` (during a key
rotation the old key verifies the tokens it signed until they expire); whoever issues tokens
(the TokenRequest path, a controller) signs with the signing key via :func:`issue`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from kboot.controlplane.errors import ControlPlaneError

ISSUER = "https://kubernetes.default.svc.cluster.local"
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class TokenError(ControlPlaneError):
    """The token is malformed, badly signed or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_public_key(pem: bytes) -> PublicKey:
    """The verification key from a PEM private key, public key or certificate."""
    if b"PRIVATE KEY" in pem:
        private = serialization.load_pem_private_key(pem, password=None)
        key: Any = private.public_key()
    elif b"CERTIFICATE" in pem:
        from cryptography import x509
        key = x509.load_pem_x509_certificate(pem).public_key()
    else:
        key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ValueError("service-account key must be RSA or EC")
    return key


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.S)


def load_public_keys(pem: bytes) -> list[PublicKey]:
    """Every verification key of a PEM file holding one or more private keys, public keys or
    certificates (upstream's ``--service-account-key-file`` format)."""
    blocks = [m.group(0) for m in _PEM_BLOCK.finditer(pem)]
    if not blocks:
        raise ValueError("no PEM key in the service-account key file")
    return [load_public_key(block) for block in blocks]


def issue(key: PrivateKey, *, namespace: str, name: str, uid: str,
          expires_in: int | None = None, audiences: list[str] | None = None,
          pod: tuple[str, str] | None = None, secret: tuple[str, str] | None = None,
          issuer: str = ISSUER, now: float) -> str:
    """A ServiceAccount token for ``system:serviceaccount:<namespace>:<name>`` (ServiceAccount
    ``uid``), optionally for ``audiences`` and bound to a pod or a Secret ``(name, uid)``: the
    apiserver accepts it only while that account and that object exist with those uids.
    ``now`` (epoch seconds, from the server's clock) is the issue time."""
    issued = int(now)
    k8s: dict[str, Any] = {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}
    if pod is not None:
        k8s["pod"] = {"name": pod[0], "uid": pod[1]}
    if secret is not None:
        k8s["secret"] = {"name": secret[0], "uid": secret[1]}
    claims: dict[str, Any] = {"iss": issuer, "sub": f"system:serviceaccount:{namespace}:{name}",
                              "iat": issued, "nbf": issued, "kubernetes.io": k8s}
    if audiences:
        claims["aud"] = audiences
    if expires_in:
        claims["exp"] = issued + expires_in
    return sign_claims(key, claims)


def sign_claims(key: PrivateKey, claims: dict[str, Any]) -> str:
    """A compact JWS of ``claims`` (RS256 for RSA keys, ES256 for P-256 keys)."""
    alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    signing_input = (_b64(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "."
                     + _b64(json.dumps(claims, separators=(",", ":")).encode()))
    if isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return signing_input + "." + _b64(sig)


def load_private_key(pem: bytes) -> PrivateKey | None:
    """The signing key when ``pem`` holds an RSA/EC private key (None for public keys)."""
    if b"PRIVATE KEY" not in pem:
        return None
    key = serialization.load_pem_private_key(pem, password=None)
    return key if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) else None


def verify_any(keys: Sequence[PublicKey], token: str, *, now: float) -> dict[str, Any]:
    """The claims of a valid token signed by one of ``keys``; TokenError otherwise (the last
    key's complaint when none verifies)."""
    if not keys:
        raise TokenError("no service-account key to verify with")
    error = TokenError("bad signature")
    for key in keys:
        try:
            return verify(key, token, now=now)
        except TokenError as err:
            if str(err) not in ("bad signature", "unsupported algorithm"):
                raise  # malformed or expired: no other key changes that
            error = err
    raise error


def verify(key: PublicKey, token: str, *, now: float) -> dict[str, Any]:
    """The claims of a valid token unexpired at ``now`` (epoch seconds); TokenError
    otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("not a JWT")
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
        sig = _unb64(parts[2])
    except ValueError as err:
        raise TokenError("malformed JWT") from err
    signing_input = f"{parts[0]}.{parts[1]}".encode()
    try:
        if isinstance(key, rsa.RSAPublicKey) and header.get("alg") == "RS256":
            key.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey) and header.get("alg") == "ES256":
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                       int.from_bytes(sig[32:], "big"))
            key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            raise TokenError("unsupported algorithm")
    except InvalidSignature:
        raise TokenError("bad signature") from None
    if not isinstance(claims, dict):
        raise TokenError("claims must be an object")
    exp = claims.get("exp")
    if isinstance(exp, int | float) and exp < now:
        raise TokenError("token expired")
    return claims
