"""Reuse decisions: keep a certificate only while it still says what we want, long enough."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest

from kboot.pki import CertInfo, CertSpec, issue, new_ca, reuse_problem, save_pair, scan_certs

NOW = datetime.datetime.now(datetime.UTC)
SPEC = CertSpec(
    "etcd-1",
    organizations=("kboot",),
    dns_names=("etcd-1", "localhost"),
    ip_addresses=("10.0.0.11", "127.0.0.1"),
    server=True,
    client=True,
)
CA = new_ca("etcd-ca")
CERT = issue(CA, SPEC).cert


def test_matching_cert_is_reused() -> None:
    assert reuse_problem(CERT, SPEC, CA.cert) is None
    reordered = dataclasses.replace(SPEC, dns_names=("localhost", "etcd-1"))
    assert reuse_problem(CERT, reordered, CA.cert) is None
    ipv6_form = dataclasses.replace(SPEC, ip_addresses=("127.0.0.1", "10.0.0.11"))
    assert reuse_problem(CERT, ipv6_form, CA.cert) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"common_name": "etcd-2"}, "CN is"),
        ({"organizations": ("system:masters",)}, "O is"),
        ({"dns_names": ("etcd-1",)}, "DNS SANs"),
        ({"ip_addresses": ("10.0.0.11", "127.0.0.1", "10.0.0.12")}, "IP SANs"),
        ({"client": False}, "usages"),
    ],
)
def test_changed_spec_needs_reissue(change: dict[str, object], reason: str) -> None:
    wanted = dataclasses.replace(SPEC, **change)  # type: ignore[arg-type]
    problem = reuse_problem(CERT, wanted, CA.cert)
    assert problem is not None and reason in problem


def test_new_ca_needs_reissue() -> None:
    assert reuse_problem(CERT, SPEC, new_ca("etcd-ca").cert) == "not signed by the current CA"


def test_near_expiry_needs_reissue() -> None:
    short = issue(CA, dataclasses.replace(SPEC, days=20)).cert
    problem = reuse_problem(short, SPEC, CA.cert)
    assert problem is not None and "within 30 days" in problem
    later = NOW + datetime.timedelta(days=340)
    assert reuse_problem(CERT, SPEC, CA.cert, now=later) is not None
    assert reuse_problem(CERT, SPEC, CA.cert, now=NOW + datetime.timedelta(days=300)) is None


def test_future_cert_is_not_valid_yet() -> None:
    future = issue(CA, SPEC, now=NOW + datetime.timedelta(days=2)).cert
    assert reuse_problem(future, SPEC, CA.cert) == "not valid yet"


def test_scan_certs_orders_by_expiry(tmp_path: Path) -> None:
    save_pair(CA, tmp_path, "ca")
    save_pair(issue(CA, dataclasses.replace(SPEC, days=10)), tmp_path / "nodes", "short")
    save_pair(issue(CA, SPEC), tmp_path / "nodes", "year")
    (tmp_path / "broken.crt").write_text("not a certificate")
    found = scan_certs(tmp_path)
    names = [path.name for path, _ in found]
    assert names == ["short.crt", "year.crt", "ca.crt", "broken.crt"]
    info = found[0][1]
    assert isinstance(info, CertInfo) and info.remaining().days in (9, 10)
    assert isinstance(found[-1][1], str) and found[-1][1].startswith("unreadable")
