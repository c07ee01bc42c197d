"""``certificates.k8s.io/v1 CertificateSigningRequest``: the pure rules of the kind.

A CSR carries a PKCS#10 request (``spec.request``, PEM, base64 in JSON), the signer it is for
and the key usages asked for. The apiserver stamps who asked (``spec.username``/``groups``/
``uid``/``extra``, never taken from the body), an approver adds an ``Approved`` or ``Denied``
condition through the ``approval`` subresource, and the signer writes ``status.certificate``
through ``status``. This module owns what every party agrees on: validation, the requestor
stamp, conditions, the parsed subject, and kubectl's table columns. It is pure (no I/O), so
the apiserver, the controllers and the kubelet share it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from kboot.controlplane.api import names
from kboot.controlplane.api.field_errors import (
    FieldError,
    duplicate,
    forbidden,
    immutable,
    invalid,
    not_supported,
    required,
)
from kboot.controlplane.api.printers_base import (
    AGE,
    NAME,
    NONE,
    Printer,
    age,
    column,
    human_duration,
    maps,
    sub,
)
from kboot.controlplane.api.shapes import Obj

KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
KUBELET_SERVING_SIGNER = "kubernetes.io/kubelet-serving"
NODE_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
BOOTSTRAPPERS_GROUP = "system:bootstrappers"

KEY_USAGES = (
    "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
    "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
    "server auth", "client auth", "code signing", "email protection", "s/mime",
    "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
    "microsoft sgc", "netscape sgc",
)
MIN_EXPIRATION_SECONDS = 600
CONDITION_TYPES = ("Approved", "Denied", "Failed")


@dataclass(frozen=True)
class Request:
    """The parts of a PKCS#10 request that approvers and signers decide on."""

    csr: x509.CertificateSigningRequest
    common_name: str
    organizations: tuple[str, ...]
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]


def encode_pem(pem: bytes) -> str:
    """``spec.request``/``status.certificate`` are bytes: base64 text in JSON."""
    return base64.b64encode(pem).decode()


def decode_field(value: Any) -> bytes:
    if not isinstance(value, str) or not value:
        raise ValueError("must be base64-encoded PEM data")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be base64-encoded PEM data") from exc


def parse_request(spec: Mapping[str, Any]) -> Request:
    """The request in ``spec.request``; ValueError if it is not one validly self-signed CSR."""
    pem = decode_field(spec.get("request"))
    if pem.count(b"-----BEGIN CERTIFICATE REQUEST-----") != 1:
        raise ValueError("PEM block type must be CERTIFICATE REQUEST")
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as exc:
        raise ValueError(f"cannot parse the certificate request: {exc}") from exc
    if not csr.is_signature_valid:
        raise ValueError("the certificate request's signature does not verify")
    subject = csr.subject
    cn = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = tuple(str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    return Request(csr=csr, common_name=cn[0] if cn else "", organizations=orgs,
                   dns_names=dns, ip_addresses=ips)


def requestor(user_name: str, uid: str, groups: list[str],
              extra: Mapping[str, list[str]]) -> Obj:
    """The spec fields the apiserver sets from the authenticated caller on create."""
    out: Obj = {"username": user_name, "groups": list(groups)}
    if uid:
        out["uid"] = uid
    if extra:
        out["extra"] = {k: list(v) for k, v in extra.items()}
    return out


def condition(obj: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in maps(sub(obj, "status", "conditions")):
        if cond.get("type") == type_ and cond.get("status", "True") == "True":
            return cond
    return None


def is_approved(obj: Mapping[str, Any]) -> bool:
    return condition(obj, "Approved") is not None and condition(obj, "Denied") is None


def is_finished(obj: Mapping[str, Any]) -> bool:
    """Issued, denied or failed: nothing left for an approver or a signer to do."""
    return bool(sub(obj, "status", "certificate")) or any(
        condition(obj, t) is not None for t in ("Denied", "Failed"))


# ------------------------------------------------------------------------------ validation


def _spec_errors(spec: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    if not spec.get("request"):
        errors.append(required("spec.request"))
    else:
        try:
            parse_request(spec)
        except ValueError as exc:
            errors.append(invalid("spec.request", "<bytes>", str(exc)))
    signer = spec.get("signerName")
    if not signer:
        errors.append(required("spec.signerName"))
    elif not isinstance(signer, str) or "/" not in signer:
        errors.append(invalid("spec.signerName", signer,
                              "must be a fully qualified domain and path of the form "
                              "'example.com/signer-name'"))
    else:
        domain, _, path = signer.partition("/")
        errors += [invalid("spec.signerName", signer, e)
                   for e in names.is_dns1123_subdomain(domain) + names.is_qualified_name(path)]
    usages = spec.get("usages") or []
    seen: set[str] = set()
    for i, usage in enumerate(usages):
        if usage not in KEY_USAGES:
            errors.append(not_supported(f"spec.usages[{i}]", usage, KEY_USAGES))
        elif usage in seen:
            errors.append(duplicate(f"spec.usages[{i}]", usage))
        seen.add(str(usage))
    seconds = spec.get("expirationSeconds")
    if seconds is not None and (not isinstance(seconds, int) or seconds < MIN_EXPIRATION_SECONDS):
        errors.append(invalid("spec.expirationSeconds", seconds,
                              f"may not specify a duration less than {MIN_EXPIRATION_SECONDS}s"))
    return errors


def _status_errors(obj: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, cond in enumerate(maps(sub(obj, "status", "conditions"))):
        path = f"status.conditions[{i}]"
        type_ = cond.get("type")
        if not type_:
            errors.append(required(f"{path}.type"))
        elif type_ in seen:
            errors.append(duplicate(f"{path}.type", type_))
        seen.add(str(type_))
        if cond.get("status") not in ("True", "False", "Unknown"):
            errors.append(not_supported(f"{path}.status", cond.get("status"),
                                        ("True", "False", "Unknown")))
    if condition(obj, "Approved") is not None and condition(obj, "Denied") is not None:
        errors.append(invalid("status.conditions", "Approved, Denied",
                              "Approved and Denied conditions are mutually exclusive"))
    cert = sub(obj, "status", "certificate")
    if cert:
        try:
            pem = decode_field(cert)
            x509.load_pem_x509_certificates(pem)
        except ValueError as exc:
            errors.append(invalid("status.certificate", "<bytes>", str(exc)))
    return errors


def validate_csr(obj: Obj, old: Obj | None) -> list[FieldError]:
    """Upstream's rules: a parseable request for a named signer, known usages; the spec is
    immutable; an issued certificate is never replaced and approval is never taken back."""
    spec = obj.get("spec") or {}
    errors = _spec_errors(spec) if old is None else []
    if old is not None and spec != (old.get("spec") or {}):
        errors.append(immutable("spec", "<spec>"))
    errors += _status_errors(obj)
    if old is not None:
        old_cert = sub(old, "status", "certificate")
        if old_cert and sub(obj, "status", "certificate") != old_cert:
            errors.append(forbidden("status.certificate", "updates may not modify a certificate"))
        for type_ in ("Approved", "Denied"):
            if condition(old, type_) is not None and condition(obj, type_) is None:
                errors.append(forbidden("status.conditions",
                                        f"updates may not remove a condition of type {type_}"))
    return errors


def keep_approval(new: Obj, old: Obj) -> None:
    """The ``status`` subresource may not add or drop Approved/Denied (upstream's status
    strategy): those come from ``old``; the other conditions and the certificate from ``new``.
    A ``status`` that is not an object is left for validation to refuse."""
    if not isinstance(new.get("status") or {}, dict):
        return
    approval = [c for c in maps(sub(old, "status", "conditions"))
                if c.get("type") in ("Approved", "Denied")]
    others = [dict(c) for c in maps(sub(new, "status", "conditions"))
              if c.get("type") not in ("Approved", "Denied")]
    conditions = [dict(c) for c in approval] + others
    status = dict(new.get("status") or {})
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    new["status"] = status


def only_approval(new: Obj, old: Obj) -> None:
    """The ``approval`` subresource changes only Approved/Denied (the rest comes from ``old``)."""
    approval = [dict(c) for c in maps(sub(new, "status", "conditions"))
                if c.get("type") in ("Approved", "Denied")]
    others = [dict(c) for c in maps(sub(old, "status", "conditions"))
              if c.get("type") not in ("Approved", "Denied")]
    status = dict(old.get("status") or {})
    if approval or others:
        status["conditions"] = approval + others
    new["status"] = status


# ---------------------------------------------------------------------------------- tables


def condition_text(obj: Mapping[str, Any]) -> str:
    types = [str(c.get("type")) for c in maps(sub(obj, "status", "conditions"))
             if c.get("status", "True") == "True"]
    if sub(obj, "status", "certificate"):
        types.append("Issued")
    return ",".join(types) or "Pending"


def _cells(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    seconds = sub(obj, "spec", "expirationSeconds")
    return [age(obj, now), sub(obj, "spec", "signerName") or "",
            sub(obj, "spec", "username") or "",
            human_duration(seconds) if isinstance(seconds, int) else NONE,
            condition_text(obj)]


CSR_PRINTER = Printer(
    (NAME, AGE, column("SignerName"), column("Requestor"), column("RequestedDuration"),
     column("Condition")),
    _cells,
)
