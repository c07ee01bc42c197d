"""Is an existing certificate still the one we want? And when does it expire?

``kboot up`` reuses valid certificates instead of regenerating them (regenerating would force
every component and kubeconfig to be redistributed on each run). :func:`reuse_problem` says why
a certificate must be reissued, or None to keep it; :func:`cert_info` feeds ``kboot status``.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kboot.pki.certs import CertSpec

#: Reissue certificates that have less than this left (upstream's kubeadm renews at 30 days too).
RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True)
class CertInfo:
    common_name: str
    organizations: tuple[str, ...]
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    issuer: str
    is_ca: bool
    not_before: datetime.datetime
    not_after: datetime.datetime

    def remaining(self, now: datetime.datetime | None = None) -> datetime.timedelta:
        return self.not_after - (now or datetime.datetime.now(datetime.UTC))


def _attrs(name: x509.Name, oid: x509.ObjectIdentifier) -> tuple[str, ...]:
    return tuple(str(a.value) for a in name.get_attributes_for_oid(oid))


def cert_info(cert: x509.Certificate) -> CertInfo:
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(sans.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in sans.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    cn = _attrs(cert.subject, NameOID.COMMON_NAME)
    issuer = _attrs(cert.issuer, NameOID.COMMON_NAME)
    return CertInfo(
        common_name=cn[0] if cn else "",
        organizations=_attrs(cert.subject, NameOID.ORGANIZATION_NAME),
        dns_names=dns,
        ip_addresses=ips,
        issuer=issuer[0] if issuer else "",
        is_ca=is_ca,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """True when ``ca``'s key signed ``cert`` (and the issuer name matches)."""
    if cert.issuer != ca.subject:
        return False
    public = ca.public_key()
    algorithm = cert.signature_hash_algorithm
    if algorithm is None:
        return False
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algorithm))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _usages(cert: x509.Certificate) -> tuple[bool, bool]:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False, False
    return ExtendedKeyUsageOID.SERVER_AUTH in eku, ExtendedKeyUsageOID.CLIENT_AUTH in eku


def _ip_set(ips: tuple[str, ...]) -> set[str]:
    return {str(ipaddress.ip_address(ip)) for ip in ips}


def reuse_problem(
    cert: x509.Certificate,
    spec: CertSpec,
    ca: x509.Certificate,
    *,
    renew_before: datetime.timedelta = RENEW_BEFORE,
    now: datetime.datetime | None = None,
) -> str | None:
    """Why ``cert`` must be reissued to satisfy ``spec`` under ``ca``; None when it can be kept."""
    info = cert_info(cert)
    now = now or datetime.datetime.now(datetime.UTC)
    if not signed_by(cert, ca):
        return "not signed by the current CA"
    if info.common_name != spec.common_name:
        return f"CN is {info.common_name!r}, want {spec.common_name!r}"
    if set(info.organizations) != set(spec.organizations):
        return f"O is {sorted(info.organizations)}, want {sorted(spec.organizations)}"
    if set(info.dns_names) != set(spec.dns_names):
        return f"DNS SANs are {sorted(info.dns_names)}, want {sorted(spec.dns_names)}"
    if _ip_set(info.ip_addresses) != _ip_set(spec.ip_addresses):
        return f"IP SANs are {sorted(info.ip_addresses)}, want {sorted(spec.ip_addresses)}"
    if _usages(cert) != (spec.server, spec.client):
        return "key usages differ (server/client)"
    if info.not_before > now:
        return "not valid yet"
    if info.not_after - now < renew_before:
        return f"expires {info.not_after:%Y-%m-%d}, within {renew_before.days} days"
    return None


def scan_certs(directory: Path, pattern: str = "**/*.crt") -> list[tuple[Path, CertInfo | str]]:
    """Every certificate under ``directory`` with its info (or why it cannot be read), soonest
    expiry first — what ``kboot status`` shows per host."""
    found: list[tuple[Path, CertInfo | str]] = []
    for path in sorted(directory.glob(pattern)):
        try:
            found.append((path, cert_info(x509.load_pem_x509_certificate(path.read_bytes()))))
        except (OSError, ValueError) as err:
            found.append((path, f"unreadable: {err}"))
    far = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    return sorted(found, key=lambda f: f[1].not_after if isinstance(f[1], CertInfo) else far)
