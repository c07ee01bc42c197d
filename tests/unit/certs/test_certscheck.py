"""``kboot certs check``'s judgement on real certificates (made by ``up``'s own PKI code) and
canned node outputs: expiry against the threshold, SANs against the inventory, signer, stale
node copies, and the exit code CI reads."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest

from kboot import pki
from kboot.cluster.certscheck import (
    EXIT_ATTENTION,
    EXIT_FAILED,
    EXIT_OK,
    KUBELET_CLIENT,
    CheckReport,
    check_local,
    check_nodes,
    node_command,
    parse_node_output,
)
from kboot.cluster.certsrenew import select_leaves
from kboot.cluster.exec import HostOutput
from kboot.cluster.pki import RenewPolicy, ensure_pki, pushed_files
from kboot.cluster.status import MARK
from kboot.cluster.topology import Node, Topology
from kboot.errors import UserError

CP = Node("cp1", "10.0.0.11", control_plane=True, etcd=True, worker=False)
W = Node("w1", "10.0.0.21", control_plane=False, etcd=False, worker=True)
NOW = datetime.datetime.now(datetime.UTC)
MONTH = datetime.timedelta(days=30)


def _topo(*nodes: Node) -> Topology:
    return Topology("t", nodes, "10.244.0.0/16", "10.96.0.0/16", "cluster.local", None, False)


def _kubelet_client(root: Path, node: str, days: int = 365) -> bytes:
    ca = pki.load_pair(root / "pki", "ca")
    assert ca is not None
    return pki.issue(ca, pki.CertSpec(f"system:node:{node}", ("system:nodes",), client=True,
                                      days=days)).cert_pem()


def _node_output(root: Path, topo: Topology, node: Node, *, kubelet: bytes,
                 override: dict[str, bytes] | None = None) -> HostOutput:
    """What :func:`node_command` prints on a node holding the workstation's pushed copies."""
    files = {f.dest: Path(f.src).read_bytes() for f in pushed_files(root, topo, node)
             if f.dest.endswith(".crt")}
    files[KUBELET_CLIENT] = kubelet
    files.update(override or {})
    text = "".join(f"{MARK}{path}\n{pem.decode()}" for path, pem in files.items())
    return HostOutput(node.name, 0, text, "", "ok")


def _report(root: Path, topo: Topology, outputs: dict[str, HostOutput],
            threshold: datetime.timedelta = MONTH) -> CheckReport:
    local = check_local(root, topo, threshold=threshold, now=NOW)
    remote, unreachable = check_nodes(root, topo, outputs, threshold=threshold, now=NOW)
    return CheckReport(topo.name, threshold.days, tuple(local + remote), unreachable)


def test_a_fresh_cluster_is_all_fine(tmp_path: Path) -> None:
    topo = _topo(CP, W)
    ensure_pki(tmp_path, topo)
    outs = {n.name: _node_output(tmp_path, topo, n, kubelet=_kubelet_client(tmp_path, n.name))
            for n in topo.nodes}
    report = _report(tmp_path, topo, outs)
    assert [f for f in report.findings if f.status != "ok"] == []
    assert report.exit_code == EXIT_OK
    where = {(f.where, f.path): f for f in report.findings}
    assert where[("cp1", "/etc/kboot/pki/etcd/peer.crt")].signer == "pki/etcd/ca"
    assert where[("w1", KUBELET_CLIENT)].signer == "pki/ca"
    assert where[("workstation", "pki/ca.crt")].signer == "self"
    assert ("cp1", "/etc/kboot/pki/apiserver.crt") in where
    assert ("w1", "/etc/kboot/pki/apiserver.crt") not in where


def test_short_lived_leaves_need_attention_and_up_renews_them(tmp_path: Path) -> None:
    topo = _topo(CP)
    ensure_pki(tmp_path, topo, RenewPolicy(renew_before=datetime.timedelta(0), leaf_days=2))
    outs = {"cp1": _node_output(tmp_path, topo, CP, kubelet=_kubelet_client(tmp_path, "cp1"))}
    report = _report(tmp_path, topo, outs)
    expiring = {(f.where, f.path) for f in report.findings if f.status == "expiring"}
    assert ("workstation", "nodes/cp1/apiserver.crt") in expiring
    assert ("cp1", "/etc/kboot/pki/apiserver.crt") in expiring
    assert report.exit_code == EXIT_ATTENTION
    # the next `kboot up` (default policy: 30 days) re-issues every short-lived leaf
    renewed = ensure_pki(tmp_path, topo).changed
    assert "nodes/cp1/apiserver" in renewed and "pki/admin" in renewed
    again = check_local(tmp_path, topo, threshold=MONTH, now=NOW)
    assert [f for f in again if f.status != "ok"] == []
    # ... and until they are pushed, the node's copies are reported as stale
    stale = check_nodes(tmp_path, topo, outs, threshold=datetime.timedelta(0), now=NOW)[0]
    assert any("workstation's copy" in p for f in stale for p in f.problems)


def test_sans_compared_with_the_inventory(tmp_path: Path) -> None:
    ensure_pki(tmp_path, _topo(CP))
    moved = dataclasses.replace(CP, ip="10.0.0.99")  # the inventory changed, no `up` yet
    findings = check_local(tmp_path, _topo(moved), threshold=MONTH, now=NOW)
    api = next(f for f in findings if f.path == "nodes/cp1/apiserver.crt")
    assert api.status == "mismatch"
    assert api.missing_sans == ("10.0.0.99",) and api.extra_sans == ("10.0.0.11",)


def test_foreign_signer_and_unreachable_host(tmp_path: Path) -> None:
    topo = _topo(CP, W)
    ensure_pki(tmp_path, topo)
    rogue = pki.new_ca("rogue")
    forged = pki.issue(rogue, pki.CertSpec("w1", dns_names=("w1",), ip_addresses=("10.0.0.21",),
                                          server=True)).cert_pem()
    outs = {"w1": _node_output(tmp_path, topo, W, kubelet=_kubelet_client(tmp_path, "w1"),
                               override={"/etc/kboot/pki/kubelet.crt": forged}),
            "cp1": HostOutput("cp1", None, "", "", "unreachable", "connection refused")}
    report = _report(tmp_path, topo, outs)
    bad = next(f for f in report.findings if f.path == "/etc/kboot/pki/kubelet.crt")
    assert bad.signer == "unknown" and any("want pki/ca" in p for p in bad.problems)
    assert report.unreachable == {"cp1": "connection refused"}
    assert report.exit_code == EXIT_FAILED


def test_missing_kubelet_client_is_an_error(tmp_path: Path) -> None:
    topo = _topo(CP, W)
    ensure_pki(tmp_path, topo)
    out = _node_output(tmp_path, topo, W, kubelet=b"")
    out = dataclasses.replace(out, stdout=out.stdout.replace(f"{MARK}{KUBELET_CLIENT}\n", ""))
    findings, _ = check_nodes(tmp_path, topo, {"w1": out}, threshold=MONTH, now=NOW)
    missing = next(f for f in findings if f.path == KUBELET_CLIENT)
    assert missing.status == "error" and missing.problems == ("missing",)


def test_node_command_prints_certificates_never_keys() -> None:
    command = node_command()
    assert "openssl x509 -in" in command and ".key" not in command
    parsed = parse_node_output(f"{MARK}/a.crt\nPEM-A\n{MARK}/b.crt\nunable to load\n")
    assert parsed == {"/a.crt": b"PEM-A\n", "/b.crt": b"unable to load\n"}


def test_renew_names(tmp_path: Path) -> None:
    topo = _topo(CP, W)
    assert select_leaves(topo, ["apiserver"], everything=False) == ["nodes/cp1/apiserver"]
    assert select_leaves(topo, ["kubelet-serving"], everything=False) == [
        "nodes/cp1/kubelet-serving", "nodes/w1/kubelet-serving"]
    assert select_leaves(topo, ["nodes/w1/kubelet-serving.crt"], everything=False) == [
        "nodes/w1/kubelet-serving"]
    with pytest.raises(UserError, match="did you mean 'apiserver'"):
        select_leaves(topo, ["apiservr"], everything=False)
    with pytest.raises(UserError, match="renewed by each kubelet"):
        select_leaves(topo, ["kubelet-client"], everything=False)
    assert "pki/admin" in select_leaves(topo, [], everything=True)


def test_forced_renewal_keeps_the_ca(tmp_path: Path) -> None:
    topo = _topo(CP)
    first = ensure_pki(tmp_path, topo)
    ca_before = (tmp_path / "pki/ca.crt").read_bytes()
    api_before = (tmp_path / "nodes/cp1/apiserver.crt").read_bytes()
    assert first.changed
    renewed = ensure_pki(tmp_path, topo, RenewPolicy(force=frozenset({"nodes/cp1/apiserver"})))
    assert renewed.changed == ["nodes/cp1/apiserver"]
    assert (tmp_path / "pki/ca.crt").read_bytes() == ca_before
    assert (tmp_path / "nodes/cp1/apiserver.crt").read_bytes() != api_before
