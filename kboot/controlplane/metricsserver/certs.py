"""The metrics server's two in-memory certificates, issued at start by the cluster CA the
controller-manager already holds (``--cluster-signing-*``): a serving certificate for
``metrics-server.kube-system.svc`` (what the aggregator verifies with the APIService's
``caBundle``) and a client certificate in group ``system:kboot-metrics``, the only identity
besides the apiserver's that kubelets answer — and only on ``/metrics/resource``. Nothing is
written to disk except a transient file to load the pair into an SSL context.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kboot.controlplane.controllers.certificates import Ca

SERVICE_DNS = ("metrics-server.kube-system.svc", "metrics-server.kube-system.svc.cluster.local",
               "metrics-server.kube-system", "metrics-server")
SCRAPE_USER = "system:kboot-metrics-server"
SCRAPE_GROUP = "system:kboot-metrics"
LIFETIME = datetime.timedelta(days=365)


@dataclass(frozen=True)
class Pair:
    cert_pem: bytes
    key_pem: bytes


def issue(ca: Ca, common_name: str, *, groups: tuple[str, ...] = (),
          dns_names: tuple[str, ...] = (), ips: tuple[str, ...] = (), server: bool,
          now: datetime.datetime) -> Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    subject.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (x509.CertificateBuilder().subject_name(x509.Name(subject))
               .issuer_name(ca.cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(min(now + LIFETIME, ca.cert.not_valid_after_utc))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    return Pair(cert.public_bytes(serialization.Encoding.PEM),
                key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


def serving_pair(ca: Ca, address: str, now: datetime.datetime) -> Pair:
    return issue(ca, "metrics-server", dns_names=SERVICE_DNS, ips=(address,), server=True,
                 now=now)


def scrape_pair(ca: Ca, now: datetime.datetime) -> Pair:
    return issue(ca, SCRAPE_USER, groups=(SCRAPE_GROUP,), server=False, now=now)
