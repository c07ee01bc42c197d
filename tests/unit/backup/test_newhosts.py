"""Restore onto new hosts as data: which hosts moved, the new etcd members' restore command
lines, the certificates re-issued for the new SANs with the backup's CA, the vanished nodes and
their pods, the ``kubernetes`` endpoints, and what is refused (other networks, newer kboot)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import shlex
import shutil
from pathlib import Path

import pytest
from cryptography import x509

from kboot.cli.main import main
from kboot.cluster import restore as restore_mod
from kboot.cluster.archive import Manifest, Member, manifest_from_json, newer_version
from kboot.cluster.backup import backup
from kboot.cluster.newhosts import (
    api_endpoint_slice,
    api_endpoints,
    check_networks,
    moved,
    node_addresses,
    stranded_pods,
    vanished_nodes,
)
from kboot.cluster.pki import ensure_pki
from kboot.cluster.restore import plan_restore, restore
from kboot.cluster.topology import Topology, topology_from_inventory
from kboot.cluster.up import PhaseOutcome
from kboot.errors import ConfigError
from kboot.inventory import Connection, Group, Host, Inventory
from tests.unit.backup.conftest import FakeRunner, make_inventory, write_state

NOW = datetime.datetime(2026, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)


def new_site(cps: int = 1, workers: int = 1, *, name: str = "prod",
             cluster: dict[str, object] | None = None) -> Inventory:
    """The same cluster on other machines: other names, another subnet."""
    hosts = {f"dr-cp{i}": Host(f"dr-cp{i}", Connection(address=f"10.9.0.{10 + i}"))
             for i in range(1, cps + 1)}
    hosts.update({f"dr-w{i}": Host(f"dr-w{i}", Connection(address=f"10.9.0.{20 + i}"))
                  for i in range(1, workers + 1)})
    groups = {"control_plane": Group("control_plane", hosts=tuple(h for h in hosts if "cp" in h)),
              "workers": Group("workers", hosts=tuple(h for h in hosts if "-w" in h))}
    return Inventory(f"{name}-dr.yaml", hosts, groups, cluster={"name": name, **(cluster or {})})


def _backup(tmp_path: Path, home: Path) -> Path:
    """A backup of the 3 + 2 cluster ``prod`` on cp1..cp3 (10.0.0.11-13)."""
    write_state(home, "prod")

    def act(book: str, inv: Inventory) -> PhaseOutcome:
        (source,) = inv.groups["kboot_backup_source"].hosts
        Path(inv.hosts[source].vars["backup_local_path"]).write_bytes(b"snap")
        return PhaseOutcome(ok=True)
    return backup(make_inventory(3, 2), runner=FakeRunner(act), on_phase=lambda s, st: None,
                  dest=tmp_path, now=NOW).path


def _manifest(*members: tuple[str, str], **kw: str) -> Manifest:
    return Manifest(cluster="prod", store="etcd", members=tuple(Member(*m) for m in members),
                    kboot_version="0.1.0", created="2026-01-01T00:00:00+00:00",
                    snapshot_sha256="0" * 64, snapshot_size=4, source="cp1", **kw)


def test_moved_compares_the_store_hosts_names_and_addresses() -> None:
    topo = topology_from_inventory(make_inventory(3, 1))
    same = _manifest(("cp1", "10.0.0.11"), ("cp2", "10.0.0.12"), ("cp3", "10.0.0.13"))
    assert not moved(same, topo)
    assert moved(_manifest(("cp1", "10.0.0.11"), ("cp2", "10.0.0.12"), ("cp3", "10.0.9.13")),
                 topo)  # one address changed
    assert moved(same, topology_from_inventory(make_inventory(1, 1)))  # fewer members
    assert moved(same, topology_from_inventory(new_site()))  # all new


def test_restore_onto_new_hosts_installs_first_and_restores_with_the_new_members(
        tmp_path: Path, kboot_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _backup(tmp_path, kboot_home)
    state = kboot_home / "clusters/prod"
    shutil.rmtree(state)  # the old site's workstation is lost too
    plan = plan_restore(new_site(1, 1), path, bundle_dir=tmp_path / "bundle")
    assert plan.new_hosts and plan.restore_state
    note = plan.notes[0]
    assert "new hosts" in note and "cp1=10.0.0.11" in note and "dr-cp1=10.9.0.11" in note
    order: list[str] = []
    installed: list[tuple[Inventory, Path | None]] = []

    def fake_up(inventory: Inventory, *, bundle_dir: Path | None, **_kw: object) -> None:
        # up issues the new hosts' certificates from the backup's CA, already in place
        assert (state / "pki/ca.crt").read_text() == "CA-1\n"
        order.append("install")
        installed.append((inventory, bundle_dir))
    monkeypatch.setattr(restore_mod, "up", fake_up)
    runner = FakeRunner(lambda book, inv: (order.append(book), PhaseOutcome(ok=True))[1])
    restore(plan, runner=runner, on_phase=lambda s, st: None, now=NOW,
            verify=lambda topo, kc: order.append("verify"),
            forget=lambda topo, kc: order.append("forget"))
    assert order == ["install", "restore/preflight.yaml", "restore/stop.yaml",
                     "restore/etcd.yaml", "restore/control-plane.yaml", "forget",
                     "restore/nodes.yaml", "forget", "verify", "restore/cleanup.yaml"]
    assert installed == [(plan.inventory, tmp_path / "bundle")]
    etcd = runner.calls[2][1]
    assert etcd.groups["kboot_etcd_members"].hosts == ("dr-cp1",)
    command = shlex.split(etcd.hosts["dr-cp1"].vars["etcd_restore_command"])
    assert "--initial-cluster=dr-cp1=https://10.9.0.11:2380" in command
    assert "--initial-advertise-peer-urls=https://10.9.0.11:2380" in command
    assert "--name=dr-cp1" in command
    assert not any("10.0.0." in arg or "=cp" in arg for arg in command)


def test_same_hosts_do_not_install(tmp_path: Path, kboot_home: Path) -> None:
    plan = plan_restore(make_inventory(3, 2), _backup(tmp_path, kboot_home))
    assert not plan.new_hosts and plan.notes == ()
    assert restore_mod.steps("etcd", new_hosts=plan.new_hosts)[0] == "preflight"


def _san(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in ext.get_values_for_type(x509.IPAddress)} | set(
        ext.get_values_for_type(x509.DNSName))


def test_certificates_are_reissued_for_the_new_sans_with_the_same_ca(tmp_path: Path) -> None:
    old = topology_from_inventory(dataclasses.replace(
        make_inventory(3, 2), cluster={"name": "prod", "api_vip": "10.0.0.100"}))
    root = tmp_path / "state"
    ensure_pki(root, old)
    keys = {rel: (root / rel).read_bytes()
            for rel in ("pki/ca.crt", "pki/etcd/ca.crt", "pki/sa.key", "encryption.yaml")}
    assert {"10.0.0.11", "10.0.0.100"} <= _san(root / "nodes/cp1/apiserver.crt")
    # the new site: dr-cp1 is new, and cp1 keeps its name on another address
    site = new_site(2, 1)
    site = dataclasses.replace(site, hosts={**site.hosts, "cp1": Host(
        "cp1", Connection(address="10.9.0.31"))}, groups={**site.groups, "control_plane": Group(
            "control_plane", hosts=("dr-cp1", "dr-cp2", "cp1"))})
    ensure_pki(root, topology_from_inventory(site))
    assert {rel: (root / rel).read_bytes() for rel in keys} == keys  # the backup's CA and keys
    for node, ip in (("dr-cp1", "10.9.0.11"), ("cp1", "10.9.0.31")):
        for rel in (f"nodes/{node}/apiserver.crt", f"nodes/{node}/etcd/peer.crt",
                    f"nodes/{node}/etcd/server.crt", f"nodes/{node}/kubelet-serving.crt"):
            sans = _san(root / rel)
            assert {ip, node} <= sans and not {"10.0.0.11", "10.0.0.100"} & sans, rel
            issuer = "pki/etcd/ca.crt" if "/etcd/" in rel else "pki/ca.crt"
            x509.load_pem_x509_certificate((root / rel).read_bytes()).verify_directly_issued_by(
                x509.load_pem_x509_certificate(keys[issuer]))


def _node(name: str, ip: str) -> dict[str, object]:
    return {"metadata": {"name": name},
            "status": {"addresses": [{"type": "InternalIP", "address": ip},
                                     {"type": "Hostname", "address": name}]}}


def test_vanished_nodes_their_pods_and_addresses() -> None:
    topo = topology_from_inventory(new_site(1, 1))
    nodes = [_node("cp1", "10.0.0.11"), _node("w2", "10.0.0.22"), _node("dr-cp1", "10.9.0.11")]
    vanished = vanished_nodes(nodes, topo)
    assert vanished == ("cp1", "w2")
    pods = [{"metadata": {"namespace": "mv", "name": "web-a"}, "spec": {"nodeName": "w2"}},
            {"metadata": {"namespace": "mv", "name": "web-b"}, "spec": {"nodeName": "dr-cp1"}},
            {"metadata": {"namespace": "kube-system", "name": "x"}, "spec": {"nodeName": "cp1"}},
            {"metadata": {"namespace": "mv", "name": "pending"}, "spec": {}}]
    assert stranded_pods(pods, vanished) == (("kube-system", "x"), ("mv", "web-a"))
    assert node_addresses(nodes, vanished) == ("10.0.0.11", "10.0.0.22")
    assert vanished_nodes(nodes[2:], topo) == ()


def test_kubernetes_endpoints_list_exactly_the_new_control_planes() -> None:
    endpoints = {"metadata": {"name": "kubernetes", "namespace": "default"},
                 "subsets": [{"addresses": [{"ip": "10.0.0.11"}, {"ip": "10.0.0.12"}],
                              "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]}
    new = api_endpoints(endpoints, ("10.9.0.11",))
    assert new is not None and new["subsets"] == [
        {"addresses": [{"ip": "10.9.0.11"}],
         "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]
    assert endpoints["subsets"][0]["addresses"][0] == {"ip": "10.0.0.11"}  # not changed in place
    assert api_endpoints(new, ("10.9.0.11",)) is None
    slice_ = {"metadata": {"name": "kubernetes"}, "addressType": "IPv4",
              "endpoints": [{"addresses": ["10.0.0.11"], "conditions": {"ready": True}}]}
    fixed = api_endpoint_slice(slice_, ("10.9.0.11", "10.9.0.12"))
    assert fixed is not None and [e["addresses"] for e in fixed["endpoints"]] == [
        ["10.9.0.11"], ["10.9.0.12"]]
    assert api_endpoint_slice(fixed, ("10.9.0.11", "10.9.0.12")) is None


@pytest.mark.parametrize(("cluster", "field"), [
    ({"service_cidr": "10.200.0.0/16"}, "service_cidr"),
    ({"cluster_domain": "dr.local"}, "cluster_domain"),
])
def test_other_networks_are_refused(tmp_path: Path, kboot_home: Path,
                                    cluster: dict[str, object], field: str) -> None:
    path = _backup(tmp_path, kboot_home)
    with pytest.raises(ConfigError) as err:
        plan_restore(new_site(cluster=cluster), path)
    assert f"sets cluster.{field}" in str(err.value) and str(path) in str(err.value)


def test_networks_unknown_to_an_older_archive_are_not_checked() -> None:
    topo: Topology = topology_from_inventory(new_site(cluster={"service_cidr": "10.5.0.0/16"}))
    check_networks(_manifest(("cp1", "10.0.0.11")), topo, archive=Path("a.tgz"),
                   inventory="x.yaml")
    with pytest.raises(ConfigError, match=r"service_cidr 10\.96\.0\.0/16"):
        check_networks(_manifest(("cp1", "10.0.0.11"), service_cidr="10.96.0.0/16"), topo,
                       archive=Path("a.tgz"), inventory="x.yaml")


def test_a_backup_of_a_newer_kboot_is_refused() -> None:
    data = json.loads(_manifest(("cp1", "10.0.0.11")).to_json())
    newer = {**data, "kbootVersion": "99.0.0"}
    with pytest.raises(ConfigError, match=r"written by kboot 99\.0\.0, newer than this kboot"):
        manifest_from_json(json.dumps(newer), source="a.tgz")
    later_format = {**data, "format": "kboot-backup/2", "kbootVersion": "1.4.0"}
    with pytest.raises(ConfigError, match=r"written by a newer kboot \(1\.4\.0, archive format "
                                          r"'kboot-backup/2'\)"):
        manifest_from_json(json.dumps(later_format), source="a.tgz")
    assert newer_version("0.2.0", "0.1.9") and newer_version("1.0", "0.9.9")
    assert not newer_version("0.2.0rc1", "0.2.0") and not newer_version("0.1.0", "0.1.0.dev3")
    assert not newer_version("unknown", "0.1.0")


def test_cli_takes_backup_then_inventory_and_says_what_is_wrong(
        tmp_path: Path, kboot_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _backup(tmp_path, kboot_home)
    inv = tmp_path / "dr.yaml"
    inv.write_text("cluster: {name: staging}\nhosts:\n  dr-cp1: {address: 10.9.0.11}\n"
                   "groups:\n  control_plane: {hosts: [dr-cp1]}\n")
    assert main(["restore", str(path), "-i", str(inv), "--yes"]) == 2
    err = "".join(capsys.readouterr().err.split())
    assert err.startswith(f"error:{path}isabackupofcluster'prod'")
    assert "setcluster.name:prodintheirinventory" in err and "Traceback" not in err
    assert main(["restore", str(path), str(path), "-i", str(inv), "--yes"]) == 2
    assert "takesoneBACKUPfile" in "".join(capsys.readouterr().err.split())
    assert main(["restore", str(path), "--yes"]) == 2
    assert "kbootrestoreBACKUP-iINVENTORY" in "".join(capsys.readouterr().err.split())
