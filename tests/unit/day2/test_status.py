"""``kboot status`` judged from canned data: every problem is named, the rest still shown."""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
from pathlib import Path

from rich.console import Console

from kboot.cli.commands.status import render
from kboot.cluster.exec import HostOutput
from kboot.cluster.status import (
    KUBELET_CERT,
    MARK,
    Gathered,
    build_report,
    expected_units,
    host_command,
    parse_etcd,
    report_dict,
    split_sections,
)
from kboot.cluster.topology import topology_from_inventory
from kboot.inventory.model import Connection, Group, Host, Inventory
from kboot.pki import CertInfo

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
ROOT = Path("/state")


def _inventory() -> Inventory:
    hosts = {"cp1": Host("cp1", Connection("10.0.0.1"), groups=("control_plane",)),
             "w1": Host("w1", Connection("10.0.0.2"), groups=("workers",))}
    return Inventory(source="inv.yaml", hosts=hosts,
                     groups={"control_plane": Group("control_plane", ("cp1",)),
                             "workers": Group("workers", ("w1",))})


TOPO = topology_from_inventory(_inventory())
MEMBERS = json.dumps({"members": [{"ID": 1234, "name": "cp1",
                                   "peerURLs": ["https://10.0.0.1:2380"],
                                   "clientURLs": ["https://10.0.0.1:2379"]}]})
ENDPOINTS = json.dumps([{"Endpoint": "https://10.0.0.1:2379",
                         "Status": {"header": {"member_id": 1234}, "leader": 1234}}])


def _node(name: str, ready: bool, role: str) -> dict[str, object]:
    return {"metadata": {"name": name, "labels": {f"node-role.kubernetes.io/{role}": ""}},
            "status": {"conditions": [{"type": "Ready", "status": str(ready)}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0"},
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.9"}]}}


def _host_out(host: str, states: list[str], etcd: bool = False) -> HostOutput:
    text = f"{MARK}units\n" + "\n".join(states) + "\n"
    if etcd:
        text += f"{MARK}members\n{MEMBERS}\n{MARK}endpoints\n{ENDPOINTS}\n"
    return HostOutput(host, 0, text, "", "ok")


def _cert(days: int) -> CertInfo:
    return CertInfo("kube-apiserver", (), (), (), "kboot-ca", False, NOW,
                    NOW + datetime.timedelta(days=days, hours=1))


def _gathered(**changes: object) -> Gathered:
    base = dict(
        nodes=[_node("cp1", True, "control-plane"), _node("w1", True, "worker")], api_error="",
        outputs={"cp1": _host_out("cp1", ["active"] * 9, etcd=True),
                 "w1": _host_out("w1", ["active"] * 6)},
        etcd_host="cp1", leases={"kube-scheduler": "cp1_x", "kube-controller-manager": "cp1_y"},
        certs=[(ROOT / "pki/admin.crt", _cert(300))], cert_root=ROOT)
    return Gathered(**{**base, **changes})  # type: ignore[arg-type]


def test_healthy_cluster() -> None:
    report = build_report(TOPO, _gathered(), now=NOW)
    assert report.healthy, report.problems
    assert [n.name for n in report.nodes] == ["cp1", "w1"] and report.nodes[0].ready
    assert report.nodes[0].roles == "control-plane" and report.nodes[0].version == "v1.32.0"
    assert report.etcd[0].leader and report.etcd[0].healthy and report.etcd[0].id == "4d2"
    assert report.certs[0].path == "pki/admin.crt" and report.certs[0].days_left == 300
    assert report_dict(report)["healthy"] is True


def test_every_problem_is_named() -> None:
    outputs = {"cp1": _host_out("cp1", ["active", "failed"] + ["active"] * 7, etcd=True),
               "w1": HostOutput("w1", None, "", "", "unreachable", "timed out")}
    report = build_report(TOPO, _gathered(
        nodes=[_node("cp1", False, "control-plane")], outputs=outputs,
        leases={"kube-scheduler": "", "kube-controller-manager": "cp1_y"},
        certs=[(ROOT / "nodes/cp1/apiserver.crt", _cert(12)), (ROOT / "bad.crt", "unreadable")],
    ), now=NOW)
    problems = "\n".join(report.problems)
    assert not report.healthy
    for words in ("node w1: not registered", "node cp1: not Ready", "w1: unreachable (timed out)",
                  "cp1: kboot-apiserver is failed", "kube-scheduler: no leader",
                  "nodes/cp1/apiserver.crt expires in 12 days", "bad.crt: unreadable"):
        assert words in problems
    assert report.hosts[1].reachable is False and report.hosts[0].units["kboot-etcd"] == "active"


def test_api_down_still_reports_hosts() -> None:
    report = build_report(TOPO, _gathered(nodes=None, api_error="connection refused", leases={}),
                          now=NOW)
    assert report.problems == ("API: connection refused",)
    assert len(report.hosts) == 2 and all(h.reachable for h in report.hosts)


def test_etcd_without_leader_or_answer() -> None:
    assert parse_etcd("Error: context deadline exceeded", "") == ()
    no_leader = json.dumps([{"Status": {"header": {"member_id": 1234}, "leader": 0}}])
    (member,) = parse_etcd(MEMBERS, no_leader)
    assert member.healthy and not member.leader
    report = build_report(TOPO, _gathered(outputs={
        "cp1": HostOutput("cp1", 0, f"{MARK}units\n" + "active\n" * 9 + f"{MARK}members\n"
                          f"{MEMBERS}\n{MARK}endpoints\n{no_leader}\n", "", "ok"),
        "w1": _host_out("w1", ["active"] * 6)}), now=NOW)
    assert report.problems == ("etcd: no leader",)


def test_units_by_role_and_one_command_per_host() -> None:
    cp, w = TOPO.node("cp1"), TOPO.node("w1")
    assert expected_units(cp)[:4] == ("kboot-etcd", "kboot-apiserver", "kboot-scheduler",
                                      "kboot-controller-manager")
    assert "kboot-ingress" in expected_units(w) and "kboot-etcd" not in expected_units(w)
    line = host_command(TOPO, cp, with_etcd=True)
    assert "member list" in line and "endpoint status" in line and "/etc/kboot/pki/etcd" in line
    assert "etcdctl" not in host_command(TOPO, w, with_etcd=False)
    assert split_sections(f"junk\n{MARK}a\n1\n2\n{MARK}b\n") == {"a": "1\n2", "b": ""}


def test_etcd_output_mixed_with_client_warnings() -> None:
    warn = json.dumps({"level": "warn", "msg": "retrying of unary invoker failed"})
    partial = json.dumps([{"Status": {"header": {"member_id": 1234}, "leader": 1234}}])
    members = json.dumps({"members": [
        {"ID": 1234, "name": "cp1", "clientURLs": ["https://10.0.0.1:2379"]},
        {"ID": 99, "name": "cp2", "clientURLs": ["https://10.0.0.2:2379"]}]})
    got = parse_etcd(f"{members}\n", f"{warn}\n{partial}\nFailed to get the status of "
                     "endpoint https://10.0.0.2:2379 (context deadline exceeded)\n")
    assert [(m.name, m.leader, m.healthy) for m in got] == [("cp1", True, True),
                                                           ("cp2", False, False)]


def test_embedded_store_cluster_is_healthy_without_etcd() -> None:
    inv = _inventory()
    topo = topology_from_inventory(dataclasses.replace(inv, cluster={"datastore": "sqlite"}))
    cp = topo.node("cp1")
    assert "kboot-etcd" not in expected_units(cp)
    assert "etcdctl" not in host_command(topo, cp, with_etcd=False)
    report = build_report(topo, _gathered(
        outputs={"cp1": _host_out("cp1", ["active"] * 8), "w1": _host_out("w1", ["active"] * 6)},
        etcd_host=None), now=NOW)
    assert report.healthy, report.problems
    assert report.etcd == () and report_dict(report)["store"] == "sqlite"
    out = io.StringIO()
    render(report, Console(file=out, width=200))
    text = out.getvalue()
    assert "embedded sqlite" in text and "(unknown)" not in text and "all healthy" in text


def test_kubelet_client_certificates_are_read_on_the_nodes() -> None:
    """Issued on each node through a CSR, so read there: expiry shown with the workstation's
    certificates (soonest first), a node without one is a problem."""
    assert "openssl x509 -noout -enddate" in host_command(TOPO, TOPO.nodes[0], with_etcd=False)
    expires = NOW + datetime.timedelta(days=20, hours=2)
    cp1 = _host_out("cp1", ["active"] * 9, etcd=True)
    cp1 = HostOutput("cp1", 0, cp1.stdout + f"{MARK}kubelet-cert\n"
                     f"notAfter={expires:%b %e %H:%M:%S %Y} GMT\n", "", "ok")
    w1 = HostOutput("w1", 0, _host_out("w1", ["active"] * 6).stdout + f"{MARK}kubelet-cert\n"
                    "Could not open file or uri for loading certificate\n", "", "ok")
    report = build_report(TOPO, _gathered(outputs={"cp1": cp1, "w1": w1}), now=NOW)
    paths = [c.path for c in report.certs]
    assert paths == [f"w1:{KUBELET_CERT}", f"cp1:{KUBELET_CERT}", "pki/admin.crt"]
    cp1_cert = report.certs[1]
    assert cp1_cert.subject == "system:node:cp1" and cp1_cert.days_left == 20
    assert cp1_cert.not_after == expires.replace(microsecond=0)
    problems = "\n".join(report.problems)
    assert f"certificate w1:{KUBELET_CERT}: missing" in problems
    assert f"certificate cp1:{KUBELET_CERT} expires in 20 days" in problems


def test_stale_and_learner_members_are_named_with_the_fix() -> None:
    members = json.dumps({"members": [
        {"ID": 1234, "name": "cp1", "peerURLs": ["https://10.0.0.1:2380"]},
        {"ID": 255, "name": "old-cp2", "peerURLs": ["https://10.0.0.7:2380"]},
        {"ID": 4096, "peerURLs": ["https://10.0.0.8:2380"], "isLearner": True}]})
    text = (f"{MARK}units\n" + "active\n" * 9 + f"{MARK}members\n{members}\n"
            f"{MARK}endpoints\n{ENDPOINTS}\n")
    report = build_report(TOPO, _gathered(outputs={
        "cp1": HostOutput("cp1", 0, text, "", "ok"),
        "w1": _host_out("w1", ["active"] * 6)}), now=NOW)
    assert "etcd member old-cp2: stale (not in the inventory); `kboot up` removes it" in \
        report.problems
    assert ("etcd member 1000 (https://10.0.0.8:2380): stale (not in the inventory); "
            "`kboot up` removes it") in report.problems
    assert "etcd: 3 members, inventory has 1" in report.problems
