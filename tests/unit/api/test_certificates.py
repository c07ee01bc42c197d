"""CertificateSigningRequest rules: validation, the approval/status split, table cells; and the
approver's and signer's decisions on a request (data in, verdict out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kboot.controlplane.api import certificates as csrs
from kboot.controlplane.controllers.certificates import node_client_problem, signer_problem

KUBELET = csrs.KUBELET_CLIENT_SIGNER


def request(cn: str, orgs: tuple[str, ...] = (), dns: tuple[str, ...] = ()) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    pem = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    return csrs.encode_pem(pem)


NODE = request("system:node:w1", ("system:nodes",))


def csr(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "c"},
            "spec": {"request": NODE, "signerName": KUBELET,
                     "usages": ["digital signature", "client auth"], **spec}}


def fields(errors: list[Any]) -> list[str]:
    return [e.field for e in errors]


@pytest.mark.parametrize("spec,field", [
    ({}, None),
    ({"request": ""}, "spec.request"),
    ({"request": csrs.encode_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n")}, "spec.request"),
    ({"request": "%%%not base64"}, "spec.request"),
    ({"signerName": ""}, "spec.signerName"),
    ({"signerName": "no-slash"}, "spec.signerName"),
    ({"usages": ["client auth", "flying"]}, "spec.usages[1]"),
    ({"usages": ["client auth", "client auth"]}, "spec.usages[1]"),
    ({"expirationSeconds": 599}, "spec.expirationSeconds"),
    ({"expirationSeconds": 600}, None),
])
def test_create_validation(spec: dict[str, Any], field: str | None) -> None:
    errors = csrs.validate_csr(csr(**spec), None)
    assert fields(errors) == ([field] if field else [])


def approved(obj: dict[str, Any], type_: str = "Approved") -> dict[str, Any]:
    return {**obj, "status": {"conditions": [{"type": type_, "status": "True"}]}}


def test_updates_keep_spec_approval_and_certificate() -> None:
    old = approved(csr())
    assert fields(csrs.validate_csr({**old, "spec": {**old["spec"], "usages": ["client auth"]}},
                                    old)) == ["spec"]
    assert fields(csrs.validate_csr({**old, "status": {}}, old)) == ["status.conditions"]
    both = {**old, "status": {"conditions": [{"type": "Approved", "status": "True"},
                                             {"type": "Denied", "status": "True"}]}}
    assert "status.conditions" in fields(csrs.validate_csr(both, old))
    issued = {**old, "status": {**old["status"], "certificate": csrs.encode_pem(b"x")}}
    assert fields(csrs.validate_csr(issued, old)) == ["status.certificate"]  # not PEM


def test_status_cannot_approve_and_approval_cannot_issue() -> None:
    old = csr()
    via_status = approved(csr())
    via_status["status"]["certificate"] = "Y2VydA=="
    csrs.keep_approval(via_status, old)
    assert via_status["status"] == {"certificate": "Y2VydA=="}
    via_approval = approved(csr())
    via_approval["status"]["certificate"] = "Y2VydA=="
    csrs.only_approval(via_approval, old)
    assert via_approval["status"] == {"conditions": [{"type": "Approved", "status": "True"}]}


@pytest.mark.parametrize("status,text", [
    ({}, "Pending"),
    ({"conditions": [{"type": "Approved", "status": "True"}]}, "Approved"),
    ({"conditions": [{"type": "Approved", "status": "True"}], "certificate": "eA=="},
     "Approved,Issued"),
    ({"conditions": [{"type": "Denied", "status": "True"}]}, "Denied"),
])
def test_condition_column(status: dict[str, Any], text: str) -> None:
    obj = {**csr(expirationSeconds=3600), "status": status}
    obj["metadata"]["creationTimestamp"] = "2026-12-06T10:00:00Z"
    cells = csrs.CSR_PRINTER.cells(obj, datetime(2026, 12, 6, 11, 0, tzinfo=UTC))
    assert cells == ["60m", KUBELET, "", "60m", text]


@pytest.mark.parametrize("cn,orgs,dns,usages,ok", [
    ("system:node:w1", ("system:nodes",), (), ["digital signature", "client auth"], True),
    ("system:node:w1", ("system:nodes",), (), ["key encipherment", "digital signature",
                                               "client auth"], True),
    ("system:node:w1", ("system:nodes", "system:masters"), (), ["client auth"], False),
    ("system:node:w1", (), (), ["client auth"], False),
    ("admin", ("system:nodes",), (), ["client auth"], False),
    ("system:node:", ("system:nodes",), (), ["client auth"], False),
    ("system:node:w1", ("system:nodes",), ("w1",), ["client auth"], False),
    ("system:node:w1", ("system:nodes",), (), ["server auth", "client auth"], False),
    ("system:node:w1", ("system:nodes",), (), ["digital signature"], False),
])
def test_node_client_requests(cn: str, orgs: tuple[str, ...], dns: tuple[str, ...],
                              usages: list[str], ok: bool) -> None:
    spec = {"request": request(cn, orgs, dns), "usages": usages}
    req = csrs.parse_request(spec)
    assert (node_client_problem(spec, req) is None) is ok
    assert (signer_problem(KUBELET, spec, req) is None) is ok


def test_serving_and_plain_client_signers() -> None:
    serving = {"request": request("system:node:w1", ("system:nodes",), ("w1",)),
               "usages": ["digital signature", "server auth"]}
    req = csrs.parse_request(serving)
    assert req.dns_names == ("w1",)
    assert signer_problem(csrs.KUBELET_SERVING_SIGNER, serving, req) is None
    assert signer_problem(csrs.CLIENT_SIGNER, serving, req) is not None
    alice = {"request": request("alice"), "usages": ["client auth"]}
    assert signer_problem(csrs.CLIENT_SIGNER, alice, csrs.parse_request(alice)) is None


def test_signing_ca_reloaded_when_its_files_change(tmp_path: Path) -> None:
    """kboot certs rotate-ca pushes a new CA before the controller-managers restart: a running
    signer signs with it from then on; a half-pushed pair (key not matching) keeps the old."""
    from kboot import pki
    from kboot.controlplane.controllers.certificates import Ca

    def save(name: str) -> x509.Certificate:
        pair = pki.new_ca(name)
        pki.save_pair(pair, tmp_path, "ca")
        return x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())

    old = save("old")
    ca = Ca(str(tmp_path / "ca.crt"), str(tmp_path / "ca.key"))
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "u")]))
           .sign(key, hashes.SHA256()))
    req = csrs.parse_request({"request": csrs.encode_pem(
        csr.public_bytes(serialization.Encoding.PEM))})
    now = datetime.now(UTC)

    def issuer() -> x509.Name:
        pem = ca.sign(req, ["client auth"], timedelta(hours=1), now=now)
        return x509.load_pem_x509_certificate(pem).issuer

    assert issuer() == old.subject
    new = save("new")
    assert issuer() == new.subject
    (tmp_path / "ca.key").write_bytes(pki.new_ca("other").key_pem())  # not the cert's key
    assert issuer() == new.subject
