"""Kubelet TLS bootstrap and client-certificate rotation (upstream's ``--bootstrap-kubeconfig``).

A joining node holds only a bootstrap kubeconfig (a short-lived bootstrap token). The kubelet
makes its own key, which never leaves the node, asks for ``CN=system:node:<name>,
O=system:nodes`` through a ``CertificateSigningRequest`` for the
``kube-apiserver-client-kubelet`` signer, waits for the controller-manager to approve and issue
it, and writes ``<cert-dir>/kubelet-client-current.pem`` (certificate and key, 0600) and its
kubeconfig pointing there. The bootstrap kubeconfig is then removed: the token has done its job.

A certificate in the last fifth of its lifetime is renewed the same way, authenticated by the
certificate itself (the approver accepts a node asking for its own name) — and so is one not
issued by the signing CA, the first of the kubeconfig's CA bundle (``kboot certs rotate-ca``
puts the new CA first and restarts the kubelet).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kboot.controlplane.api import certificates as csrs
from kboot.controlplane.client.clock import REAL_CLOCK, Clock
from kboot.controlplane.client.errors import ApiError
from kboot.controlplane.client.rest import Client
from kboot.controlplane.errors import ControlPlaneError

log = logging.getLogger(__name__)

CURRENT = "kubelet-client-current.pem"
RENEW_AT = 0.8  # of the lifetime: upstream rotates between 70 % and 90 %
USAGES = ["digital signature", "client auth"]  # an ECDSA key: no key encipherment


class BootstrapError(ControlPlaneError):
    """The node cannot get a client certificate (denied, failed, no credentials at all)."""


@dataclass(frozen=True)
class Paths:
    kubeconfig: Path
    bootstrap_kubeconfig: Path | None
    cert_dir: Path

    @property
    def current(self) -> Path:
        return self.cert_dir / CURRENT


def _write_private(path: Path, data: bytes) -> None:
    """Atomically, 0600 from the start (a reader never sees a partial key)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _kubeconfig_cert(kubeconfig: Path, section: str, entry: str,
                     field: str) -> x509.Certificate | None:
    """The (first) certificate a kubeconfig's first ``section`` entry names in ``field``
    (``<field>-data`` inline, or ``<field>`` a file)."""
    try:
        doc = yaml.safe_load(kubeconfig.read_text()) or {}
        item = (doc.get(section) or [{}])[0].get(entry) or {}
        if item.get(f"{field}-data"):
            pem = base64.b64decode(item[f"{field}-data"])
        elif item.get(field):
            pem = (kubeconfig.parent / item[field]).read_bytes()
        else:
            return None
        return x509.load_pem_x509_certificate(pem)
    except (OSError, ValueError, yaml.YAMLError, AttributeError, IndexError):
        return None


def client_certificate(kubeconfig: Path) -> x509.Certificate | None:
    """The client certificate the kubeconfig names (file or inline), if it has one."""
    return _kubeconfig_cert(kubeconfig, "users", "user", "client-certificate")


def signing_ca(kubeconfig: Path) -> x509.Certificate | None:
    """The first certificate of the kubeconfig's CA (file or inline): the current signer."""
    return _kubeconfig_cert(kubeconfig, "clusters", "cluster", "certificate-authority")


def issued_by(cert: x509.Certificate, ca: x509.Certificate | None) -> bool:
    """Whether ``ca`` signed ``cert`` (True when there is no CA to compare with)."""
    if ca is None:
        return True
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def renewal_due(cert: x509.Certificate) -> datetime.datetime:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return start + (end - start) * RENEW_AT


def new_request(node_name: str) -> tuple[bytes, bytes]:
    """(key PEM, CSR PEM) for this node's client certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, csrs.NODE_GROUP),
                         x509.NameAttribute(NameOID.COMMON_NAME,
                                            f"{csrs.NODE_USER_PREFIX}{node_name}")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key_pem, csr.public_bytes(serialization.Encoding.PEM)


async def request_certificate(client: Client, node_name: str, *, poll: float = 0.2,
                              timeout: float = 900.0,
                              clock: Clock = REAL_CLOCK) -> tuple[bytes, bytes]:
    """Ask for and wait for a node client certificate; (certificate PEM, key PEM)."""
    key_pem, csr_pem = new_request(node_name)
    created = await client.create("certificatesigningrequests", {
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"generateName": "node-csr-"},
        "spec": {"request": csrs.encode_pem(csr_pem), "usages": USAGES,
                 "signerName": csrs.KUBELET_CLIENT_SIGNER}})
    name = created["metadata"]["name"]
    log.info("asked for a client certificate: CertificateSigningRequest %s", name)
    deadline = clock.monotonic() + timeout
    while clock.monotonic() < deadline:
        csr = await client.get("certificatesigningrequests", name)
        for type_ in ("Denied", "Failed"):
            cond = csrs.condition(csr, type_)
            if cond is not None:
                raise BootstrapError(f"CertificateSigningRequest {name} {type_.lower()}: "
                                     f"{cond.get('reason', '')} {cond.get('message', '')}")
        cert = (csr.get("status") or {}).get("certificate")
        if cert:
            return csrs.decode_field(cert), key_pem
        await clock.sleep(poll)
    raise BootstrapError(f"CertificateSigningRequest {name} was not issued within "
                         f"{timeout:.0f} s (is the controller-manager running?)")


def write_credentials(paths: Paths, source_kubeconfig: Path, cert_pem: bytes,
                      key_pem: bytes) -> None:
    """The certificate and key in one file, and a kubeconfig with the source's server and CA
    that uses them."""
    _write_private(paths.current, cert_pem + key_pem)
    doc = yaml.safe_load(source_kubeconfig.read_text()) or {}
    cluster: dict[str, Any] = dict((doc.get("clusters") or [{}])[0].get("cluster") or {})
    ca = cluster.get("certificate-authority")
    if ca and not os.path.isabs(ca):
        cluster["certificate-authority"] = str(source_kubeconfig.parent / ca)
    current = str(paths.current)
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "default",
        "clusters": [{"name": "default", "cluster": cluster}],
        "users": [{"name": "default", "user": {"client-certificate": current,
                                               "client-key": current}}],
        "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}],
    }
    _write_private(paths.kubeconfig, yaml.safe_dump(config, sort_keys=False).encode())


async def _obtain(paths: Paths, source: Path, node_name: str, *,
                  clock: Clock = REAL_CLOCK) -> None:
    while True:
        client = Client.from_kubeconfig(source)
        try:
            cert_pem, key_pem = await request_certificate(client, node_name, clock=clock)
            break
        except ApiError as exc:  # not yet allowed / API not up: retry like upstream
            log.warning("client certificate request failed (%s); retrying in 5 s", exc)
        except OSError as exc:
            log.warning("API not reachable (%s); retrying in 5 s", exc)
        finally:
            await client.close()
        await clock.sleep(5)
    write_credentials(paths, source, cert_pem, key_pem)
    log.info("wrote client certificate %s", paths.current)


async def ensure_credentials(paths: Paths, node_name: str, *,
                             clock: Clock = REAL_CLOCK) -> None:
    """Leave ``paths.kubeconfig`` with a valid client certificate before the kubelet starts."""
    now = clock.now()
    cert = client_certificate(paths.kubeconfig) if paths.kubeconfig.exists() else None
    if cert is not None and now < cert.not_valid_after_utc:
        current_signer = issued_by(cert, signing_ca(paths.kubeconfig))
        if now < renewal_due(cert) and current_signer:
            return
        log.info("client certificate %s: renewing", f"expires {cert.not_valid_after_utc}"
                 if current_signer else "not issued by the current signing CA")
        await _obtain(paths, paths.kubeconfig, node_name, clock=clock)
        return
    bootstrap = paths.bootstrap_kubeconfig
    if bootstrap is None or not bootstrap.exists():
        state = "expired" if cert is not None else "missing"
        raise BootstrapError(f"{paths.kubeconfig}: client certificate {state} and no "
                             "bootstrap kubeconfig to request one (re-run `kboot up`)")
    log.info("no valid client certificate: bootstrapping with %s", bootstrap)
    await _obtain(paths, bootstrap, node_name, clock=clock)
    bootstrap.unlink(missing_ok=True)


async def rotate_when_due(paths: Paths, node_name: str, *, clock: Clock = REAL_CLOCK) -> None:
    """Sleep until the certificate is due for renewal, renew it, and return (the caller then
    restarts on the new credentials)."""
    cert = client_certificate(paths.kubeconfig)
    if cert is None:  # token credentials: nothing to rotate
        await asyncio.Event().wait()
        return
    wait = (renewal_due(cert) - clock.now()).total_seconds()
    while wait > 0:
        await clock.sleep(min(wait, 3600.0))
        wait = (renewal_due(cert) - clock.now()).total_seconds()
    await _obtain(paths, paths.kubeconfig, node_name, clock=clock)
