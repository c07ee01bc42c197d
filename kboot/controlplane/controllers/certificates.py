"""Kubelet TLS bootstrap on the control-plane side: approve node client CSRs, sign approved CSRs.

``csrapproving`` approves a ``kube-apiserver-client-kubelet`` request when it asks for exactly a
node client certificate (``O=system:nodes``, ``CN=system:node:<name>``, no alternative names,
client-auth usages) and comes either from a bootstrap token (group ``system:bootstrappers``: a
joining node) or from that very node (a renewal). Anything else stays pending for a human
(``kubectl certificate approve|deny``).

``csrsigning`` issues every approved request for the signers it serves with the cluster CA
(``--cluster-signing-cert-file``/``--cluster-signing-key-file``, like kube-controller-manager),
after checking the request fits its signer; a request that does not gets a ``Failed``
condition instead. Without a CA key the signer stays idle and says so once.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from kboot.controlplane.api import certificates as csrs
from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.errors import Conflict, NotFound
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.client.meta import now
from kboot.controlplane.controllers.base import Controller, ControllerContext

log = logging.getLogger(__name__)
SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

NODE_CLIENT_USAGES = frozenset({"digital signature", "key encipherment", "client auth"})
BACKDATE = datetime.timedelta(minutes=5)  # tolerate clock skew between nodes


def _with_condition(csr: Obj, type_: str, reason: str, message: str, *, stamp: str) -> Obj:
    status = dict(csr.get("status") or {})
    status["conditions"] = [*(status.get("conditions") or []), {
        "type": type_, "status": "True", "reason": reason, "message": message,
        "lastUpdateTime": stamp, "lastTransitionTime": stamp}]
    return {**csr, "status": status}


def node_client_problem(spec: dict[str, Any], req: csrs.Request) -> str | None:
    """Why ``req`` is not a plain node client certificate request (None if it is one)."""
    if req.organizations != (csrs.NODE_GROUP,):
        return f"subject organization must be exactly {csrs.NODE_GROUP!r}"
    if not req.common_name.startswith(csrs.NODE_USER_PREFIX) or \
            req.common_name == csrs.NODE_USER_PREFIX:
        return f"subject common name must start with {csrs.NODE_USER_PREFIX!r}"
    if req.dns_names or req.ip_addresses:
        return "a client certificate carries no subject alternative names"
    usages = set(spec.get("usages") or [])
    if "client auth" not in usages or not usages <= NODE_CLIENT_USAGES:
        return f"usages must include 'client auth' and be among {sorted(NODE_CLIENT_USAGES)}"
    return None


class CsrApprover(Controller):
    name = "csrapproving"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.csrs = self.informer("certificatesigningrequests")
        self.csrs.add_handlers(Handlers(on_add=self.enqueue,
                                        on_update=lambda _o, n: self.enqueue(n)))

    async def reconcile(self, key: str) -> Result:
        csr = self.csrs.get(key)
        if csr is None or csrs.is_finished(csr) or any(
                csrs.condition(csr, t) for t in ("Approved", "Denied")):
            return DONE
        spec = csr.get("spec") or {}
        if spec.get("signerName") != csrs.KUBELET_CLIENT_SIGNER:
            return DONE
        try:
            req = csrs.parse_request(spec)
        except ValueError:
            return DONE  # the signer fails it; nothing to approve
        if node_client_problem(spec, req) is not None:
            return DONE
        groups = spec.get("groups") or []
        if csrs.BOOTSTRAPPERS_GROUP in groups:
            message = "Auto approving kubelet client certificate after a bootstrap token join."
        elif spec.get("username") == req.common_name and csrs.NODE_GROUP in groups:
            message = "Auto approving self kubelet client certificate after a renewal request."
        else:
            return DONE
        try:
            await self.client.replace("certificatesigningrequests",
                                      _with_condition(csr, "Approved", "AutoApproved", message,
                                                      stamp=now(self.clock)),
                                      subresource="approval")
        except NotFound:
            return DONE
        except Conflict:
            return Result(requeue=True)
        log.info("approved %s for %s", key, req.common_name)
        return DONE


class Ca:
    """The cluster CA that signs approved requests. Re-read when its files change: during
    ``kboot certs rotate-ca``'s reissue the new CA is pushed to every control plane before
    the controller-managers restart one node at a time, and a kubelet restarted on the first
    node must not get its client certificate from a leader still holding the old CA."""

    def __init__(self, cert_file: str, key_file: str) -> None:
        self.files = (Path(cert_file), Path(key_file))
        self.stamp = self._stamp()
        self.cert, self.key = self._load()

    def _stamp(self) -> tuple[tuple[int, int, int], ...]:
        return tuple((st.st_ino, st.st_mtime_ns, st.st_size)
                     for st in (f.stat() for f in self.files))

    def _load(self) -> tuple[x509.Certificate, SigningKey]:
        cert_file, key_file = self.files
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
                          | ed25519.Ed25519PrivateKey):
            raise ValueError(f"{key_file}: unsupported CA key type")
        if key.public_key() != cert.public_key():
            raise ValueError(f"{key_file}: not the key of {cert_file}")
        return cert, key

    def refresh(self) -> None:
        """The files' current pair, if they changed and hold a matching one (else, e.g. half
        pushed, the previous pair until they do)."""
        try:
            stamp = self._stamp()
            if stamp != self.stamp:
                self.cert, self.key = self._load()
                self.stamp = stamp
                log.info("csrsigning: reloaded the CA from %s", self.files[0])
        except (OSError, ValueError) as exc:
            log.warning("csrsigning: keeping the CA loaded before (%s)", exc)

    def sign(self, req: csrs.Request, usages: list[str], lifetime: datetime.timedelta, *,
             now: datetime.datetime) -> bytes:
        """A certificate valid from ``now`` (backdated for skew) for ``lifetime``."""
        self.refresh()
        not_after = min(now + lifetime, self.cert.not_valid_after_utc)
        public = req.csr.public_key()
        builder = (x509.CertificateBuilder()
                   .subject_name(req.csr.subject).issuer_name(self.cert.subject)
                   .public_key(public)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - BACKDATE).not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                  critical=True)
                   .add_extension(_key_usage(usages), critical=True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self.key.public_key()), critical=False))
        extended = [oid for name, oid in (("client auth", ExtendedKeyUsageOID.CLIENT_AUTH),
                                          ("server auth", ExtendedKeyUsageOID.SERVER_AUTH))
                    if name in usages]
        if extended:
            builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
        if req.dns_names or req.ip_addresses:
            names: list[x509.GeneralName] = [x509.DNSName(d) for d in req.dns_names]
            names += [x509.IPAddress(ipaddress.ip_address(i)) for i in req.ip_addresses]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        algorithm = None if isinstance(self.key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
        cert = builder.sign(self.key, algorithm)
        return cert.public_bytes(serialization.Encoding.PEM)


def _key_usage(usages: list[str]) -> x509.KeyUsage:
    has = set(usages).__contains__
    return x509.KeyUsage(
        digital_signature=has("digital signature"), content_commitment=has("content commitment"),
        key_encipherment=has("key encipherment"), data_encipherment=has("data encipherment"),
        key_agreement=has("key agreement"), key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False)


def signer_problem(signer: str, spec: dict[str, Any], req: csrs.Request) -> str | None:
    """Why the request does not fit ``signer`` (upstream's per-signer rules), or None."""
    usages = set(spec.get("usages") or [])
    if signer == csrs.KUBELET_CLIENT_SIGNER:
        return node_client_problem(spec, req)
    if signer == csrs.KUBELET_SERVING_SIGNER:
        if req.organizations != (csrs.NODE_GROUP,) or \
                not req.common_name.startswith(csrs.NODE_USER_PREFIX):
            return "a kubelet serving certificate is for system:node:<name> in system:nodes"
        if "server auth" not in usages or usages - {"digital signature", "key encipherment",
                                                    "server auth"}:
            return "usages must include 'server auth' and nothing beyond key usages"
        return None
    if "client auth" not in usages or usages - NODE_CLIENT_USAGES:
        return "usages must include 'client auth' and nothing beyond key usages"
    return None


class CsrSigner(Controller):
    name = "csrsigning"
    SIGNERS = (csrs.KUBELET_CLIENT_SIGNER, csrs.CLIENT_SIGNER, csrs.KUBELET_SERVING_SIGNER)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        opts = ctx.options
        self.ca: Ca | None = None
        if opts.cluster_signing_cert_file and opts.cluster_signing_key_file:
            self.ca = Ca(opts.cluster_signing_cert_file, opts.cluster_signing_key_file)
        else:
            log.warning("csrsigning: no --cluster-signing-cert-file/--cluster-signing-key-file;"
                        " approved certificate requests will not be issued")
        self.lifetime = datetime.timedelta(seconds=opts.cluster_signing_duration)
        self.csrs = self.informer("certificatesigningrequests")
        self.csrs.add_handlers(Handlers(on_add=self.enqueue,
                                        on_update=lambda _o, n: self.enqueue(n)))

    async def reconcile(self, key: str) -> Result:
        csr = self.csrs.get(key)
        if self.ca is None or csr is None or not csrs.is_approved(csr) or \
                csrs.is_finished(csr):
            return DONE
        spec = csr.get("spec") or {}
        signer = str(spec.get("signerName") or "")
        if signer not in self.SIGNERS:
            return DONE
        try:
            req = csrs.parse_request(spec)
            problem = signer_problem(signer, spec, req)
        except ValueError as exc:
            problem = str(exc)
        if problem is not None:
            body = _with_condition(csr, "Failed", "SignerValidationFailure", problem,
                                   stamp=now(self.clock))
        else:
            lifetime = self.lifetime
            if isinstance(spec.get("expirationSeconds"), int):
                lifetime = min(lifetime, datetime.timedelta(seconds=spec["expirationSeconds"]))
            pem = self.ca.sign(req, list(spec.get("usages") or []), lifetime,
                               now=self.clock.now())
            body = {**csr, "status": {**(csr.get("status") or {}),
                                      "certificate": csrs.encode_pem(pem)}}
        try:
            await self.client.replace("certificatesigningrequests", body, subresource="status")
        except NotFound:
            return DONE
        except Conflict:
            return Result(requeue=True)
        log.info("%s %s (%s)", "failed" if problem else "issued", key, signer)
        return DONE
