"""Certificate authorities and the leaf certificates they sign.

One function makes a CA, one issues a leaf from a :class:`CertSpec` (what the certificate must
say: CN, groups as O, SANs, usages, lifetime). The spec is also what
:func:`kboot.pki.checks.reuse_problem` compares an existing certificate against, so "what we
want" is written once.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kboot.pki.keys import KeyType, PrivateKey, key_from_pem, key_to_pem, new_private_key

CA_DAYS = 3650
LEAF_DAYS = 365
#: Certificates start a little in the past so that small clock skew between hosts is harmless.
BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class CertSpec:
    """What a leaf certificate must say. ``organizations`` become Kubernetes groups."""

    common_name: str
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    server: bool = False
    client: bool = False
    days: int = LEAF_DAYS


@dataclass(frozen=True)
class CertKeyPair:
    cert: x509.Certificate
    key: PrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return key_to_pem(self.key)

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes) -> CertKeyPair:
        return cls(x509.load_pem_x509_certificate(cert_pem), key_from_pem(key_pem))


def _now(now: datetime.datetime | None) -> datetime.datetime:
    return now or datetime.datetime.now(datetime.UTC)


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def new_ca(
    common_name: str,
    *,
    days: int = CA_DAYS,
    key_type: KeyType = "ecdsa-p256",
    now: datetime.datetime | None = None,
) -> CertKeyPair:
    """A self-signed CA that may sign leaves only (path length 0)."""
    key = new_private_key(key_type)
    start = _now(now) - BACKDATE
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True, ecdsa=isinstance(key, ec.EllipticCurvePrivateKey)), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertKeyPair(cert, key)


def _usage(*, ca: bool, ecdsa: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca and not ecdsa,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _sans(spec: CertSpec) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in spec.dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in spec.ip_addresses]
    return names


def issue(
    ca: CertKeyPair,
    spec: CertSpec,
    *,
    key_type: KeyType = "ecdsa-p256",
    key: PrivateKey | None = None,
    now: datetime.datetime | None = None,
) -> CertKeyPair:
    """A leaf certificate for ``spec`` signed by ``ca`` (a fresh key unless ``key`` is given)."""
    if not (spec.server or spec.client):
        raise ValueError(f"certificate {spec.common_name!r} must be for server or client use")
    key = key or new_private_key(key_type)
    start = _now(now) - BACKDATE
    not_after = min(start + datetime.timedelta(days=spec.days), ca.cert.not_valid_after_utc)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] if spec.server else []
    usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if spec.client else []
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(spec.common_name, spec.organizations))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False, ecdsa=isinstance(key, ec.EllipticCurvePrivateKey)), True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    sans = _sans(spec)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return CertKeyPair(builder.sign(ca.key, hashes.SHA256()), key)
