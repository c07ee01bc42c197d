"""``kboot certs check``: every certificate of a cluster, judged against the inventory.

Two sources: the workstation's state directory (CAs and every leaf ``kboot up`` issues) and
each node's ``/etc/kboot/pki`` plus the kubelet's client certificate (made on the node by TLS
bootstrap; its key never leaves the node). A node sends all its certificates in one round trip
(``openssl x509`` prints the certificate of each file and never its key), so 50 nodes cost one
parallel SSH command each.

Each certificate is judged for expiry (against the renewal threshold), SANs against what the
inventory says it must carry (:func:`kboot.cluster.pki.leaf_specs`: missing and extra
addresses), its signer (which of the workstation's CAs signed it, and whether that is the one
it should be), and — for pushed files — whether the node holds the workstation's current copy.
Gathering and judging are separate: :func:`judge` is pure and tested on canned certificates.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509

from kboot import pki
from kboot.cluster.exec import HostOutput, run_on_hosts
from kboot.cluster.pki import CAS, HOST_PKI_DIR, TRUST, leaf_specs, pushed_files
from kboot.cluster.status import MARK, split_sections
from kboot.cluster.topology import Node, Topology
from kboot.inventory import Inventory
from kboot.playbook.state import TransportFactory

KUBELET_CLIENT = "/var/lib/kboot/kubelet/pki/kubelet-client-current.pem"
WORKSTATION = "workstation"
Status = Literal["ok", "expiring", "expired", "mismatch", "error"]
#: ``kboot certs check``'s exit codes (documented in docs/cli.md)
EXIT_OK, EXIT_FAILED, EXIT_ATTENTION = 0, 1, 3


@dataclass(frozen=True)
class Finding:
    where: str  # "workstation" or a node name
    path: str  # relative to the state directory on the workstation, absolute on a node
    subject: str = ""
    signer: str = ""  # the workstation CA that signed it ("self" for a CA, "unknown" otherwise)
    not_after: datetime.datetime | None = None
    days_left: float | None = None
    missing_sans: tuple[str, ...] = ()
    extra_sans: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    status: Status = "ok"


@dataclass(frozen=True)
class CheckReport:
    cluster: str
    threshold_days: float
    findings: tuple[Finding, ...]
    unreachable: Mapping[str, str] = field(default_factory=dict)  # host -> why

    @property
    def exit_code(self) -> int:
        if self.unreachable or any(f.status == "error" for f in self.findings):
            return EXIT_FAILED
        return EXIT_ATTENTION if any(f.status != "ok" for f in self.findings) else EXIT_OK


@dataclass(frozen=True)
class Expected:
    """What a certificate must be: signed by ``ca`` (a CAS key), saying ``spec``; ``copy_of``
    the workstation file a node's copy must equal."""

    ca: str
    spec: pki.CertSpec | None = None
    copy_of: Path | None = None
    is_ca: bool = False


def workstation_cas(root: Path) -> dict[str, x509.Certificate]:
    """The CAs under ``root`` by their path (``pki/ca``), old and new ones during a rotation."""
    out: dict[str, x509.Certificate] = {}
    for path in sorted((root / "pki").glob("**/*.crt")):
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except ValueError:
            continue
        if pki.cert_info(cert).is_ca:
            out[str(path.relative_to(root).with_suffix(""))] = cert
    return out


def _san_set(names: Sequence[str], ips: Sequence[str]) -> set[str]:
    return set(names) | {str(ipaddress.ip_address(ip)) for ip in ips}


def _signer(cert: x509.Certificate, cas: Mapping[str, x509.Certificate]) -> str:
    for rel, ca in cas.items():
        if ca == cert:
            return "self"
        if pki.signed_by(cert, ca):
            return rel
    return "unknown"


def judge(where: str, path: str, pem: bytes | None, expected: Expected | None, *,
          cas: Mapping[str, x509.Certificate], threshold: datetime.timedelta,
          now: datetime.datetime) -> Finding:
    """One certificate's finding; ``pem`` None means the file is missing."""
    if pem is None:
        return Finding(where, path, problems=("missing",), status="error")
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as err:
        return Finding(where, path, problems=(f"unreadable: {err}",), status="error")
    info = pki.cert_info(cert)
    left = info.not_after - now
    problems: list[str] = []
    status: Status = "ok"
    signer = _signer(cert, cas)
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    if expected is not None:
        want_signer = "self" if expected.is_ca else expected.ca
        if signer != want_signer:
            problems.append(f"signed by {signer}, want {want_signer}")
        if expected.spec is not None:
            want = _san_set(expected.spec.dns_names, expected.spec.ip_addresses)
            have = _san_set(info.dns_names, info.ip_addresses)
            missing, extra = tuple(sorted(want - have)), tuple(sorted(have - want))
            if missing or extra:
                problems.append("SANs differ from the inventory")
        if expected.copy_of is not None and expected.copy_of.exists() and \
                _first_cert(expected.copy_of) != cert:  # a node shows a bundle's first
            problems.append("differs from the workstation's copy (run kboot up to push it)")
    if problems:
        status = "mismatch"
    if left <= datetime.timedelta(0):
        problems.append("expired")
        status = "expired"
    elif left < threshold:
        problems.append(f"expires within {threshold.days} days")
        status = "expiring" if status == "ok" else status
    return Finding(where, path, subject=info.common_name, signer=signer,
                   not_after=info.not_after, days_left=round(left / datetime.timedelta(days=1), 1),
                   missing_sans=missing, extra_sans=extra, problems=tuple(problems),
                   status=status)


def _first_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError:
        return None


def workstation_expected(root: Path, topo: Topology) -> dict[str, Expected]:
    """Workstation files (relative, with ``.crt``) → what they must be."""
    out = {f"{rel}.crt": Expected(rel, is_ca=True) for rel in CAS}
    out.update({f"{rel}.crt": Expected(ca, spec) for rel, (ca, spec) in leaf_specs(topo).items()})
    return out


def node_expected(root: Path, topo: Topology, node: Node) -> dict[str, Expected]:
    """A node's certificate files → what they must be (pushed ones: the workstation's copy)."""
    ws = workstation_expected(root, topo)  # and the trust bundles: the signing CA comes first
    ws.update({bundle: Expected(rel, is_ca=True) for rel, bundle in TRUST.items()})
    out: dict[str, Expected] = {}
    for f in pushed_files(root, topo, node):
        if not f.dest.endswith(".crt"):
            continue
        rel = str(Path(f.src).relative_to(root)) if Path(f.src).is_relative_to(root) else f.src
        base = ws.get(rel, Expected("unknown"))
        out[f.dest] = Expected(base.ca, base.spec, Path(f.src), base.is_ca)
    out[KUBELET_CLIENT] = Expected("pki/ca", pki.CertSpec(
        f"system:node:{node.name}", ("system:nodes",), client=True))
    return out


def node_command() -> str:
    """One shell line printing every certificate of a node, each after a marker line."""
    files = f"{HOST_PKI_DIR}/*.crt {HOST_PKI_DIR}/etcd/*.crt {KUBELET_CLIENT}"
    return (f"for f in {files}; do [ -e \"$f\" ] || continue; echo \"{MARK}$f\"; "
            "openssl x509 -in \"$f\" 2>&1; done; exit 0")


def parse_node_output(text: str) -> dict[str, bytes]:
    """``{path: PEM}`` from :func:`node_command`'s output (an error text stays as is)."""
    return {k: (v + "\n").encode() for k, v in split_sections(text).items()}


def check_local(root: Path, topo: Topology, *, threshold: datetime.timedelta,
                now: datetime.datetime) -> list[Finding]:
    cas = workstation_cas(root)
    findings = []
    for rel, expected in workstation_expected(root, topo).items():
        path = root / rel
        findings.append(judge(WORKSTATION, rel, path.read_bytes() if path.exists() else None,
                              expected, cas=cas, threshold=threshold, now=now))
    known = set(workstation_expected(root, topo))
    for path in sorted(root.glob("**/*.crt")):  # e.g. the registry's, a rotation's new CA
        rel = str(path.relative_to(root))
        if rel not in known and not rel.startswith("nodes/") and "/old/" not in rel:
            findings.append(judge(WORKSTATION, rel, path.read_bytes(), None, cas=cas,
                                  threshold=threshold, now=now))
    return findings


def check_nodes(root: Path, topo: Topology, outputs: Mapping[str, HostOutput], *,
                threshold: datetime.timedelta, now: datetime.datetime
                ) -> tuple[list[Finding], dict[str, str]]:
    cas = workstation_cas(root)
    findings: list[Finding] = []
    unreachable: dict[str, str] = {}
    for node in topo.nodes:
        out = outputs.get(node.name)
        if out is None or not out.ok:
            unreachable[node.name] = (out.message or out.stderr.strip() or out.status
                                      ) if out else "not contacted"
            continue
        found = parse_node_output(out.stdout)
        expected = node_expected(root, topo, node)
        for path, exp in expected.items():
            findings.append(judge(node.name, path, found.get(path), exp, cas=cas,
                                  threshold=threshold, now=now))
        for path in sorted(set(found) - set(expected)):
            findings.append(judge(node.name, path, found[path], None, cas=cas,
                                  threshold=threshold, now=now))
    return findings, unreachable


def check_certs(inventory: Inventory, topo: Topology, root: Path, *,
                threshold: datetime.timedelta,
                transports_factory: TransportFactory | None = None, forks: int = 20,
                now: datetime.datetime | None = None) -> CheckReport:
    now = now or datetime.datetime.now(datetime.UTC)
    outputs = run_on_hosts(inventory, {n.name: node_command() for n in topo.nodes},
                           become=True, transports_factory=transports_factory, forks=forks)
    local = check_local(root, topo, threshold=threshold, now=now)
    remote, unreachable = check_nodes(root, topo, outputs, threshold=threshold, now=now)
    return CheckReport(topo.name, threshold / datetime.timedelta(days=1),
                       tuple(local + remote), unreachable)


def report_dict(report: CheckReport) -> dict[str, object]:
    return {
        "cluster": report.cluster, "thresholdDays": report.threshold_days,
        "exitCode": report.exit_code, "unreachable": dict(report.unreachable),
        "certificates": [{
            "where": f.where, "path": f.path, "subject": f.subject, "signer": f.signer,
            "notAfter": f.not_after.isoformat() if f.not_after else None,
            "daysLeft": f.days_left, "missingSANs": list(f.missing_sans),
            "extraSANs": list(f.extra_sans), "status": f.status, "problems": list(f.problems),
        } for f in report.findings],
    }
