"""backup() and restore() sequencing over a fake runner: which playbooks run, in which order,
with which variables, and what happens when a step fails."""

from __future__ import annotations

import datetime
import shlex
from pathlib import Path

import pytest

from kboot.cli.main import main
from kboot.cluster.archive import open_archive
from kboot.cluster.backup import archive_path, backup
from kboot.cluster.etcdsnap import ETCD_GROUP
from kboot.cluster.restore import plan_restore, restore
from kboot.cluster.topology import Topology, topology_from_inventory
from kboot.cluster.up import PhaseOutcome
from kboot.errors import ClusterError, ConfigError
from kboot.inventory import Inventory
from tests.unit.backup.conftest import FakeRunner, make_inventory, no_api, write_state

NOW = datetime.datetime(2026, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)


def _snapshotting(fail_on: set[str]) -> FakeRunner:
    """A runner whose snapshot play 'fetches' a snapshot unless run on a failing member."""
    def act(book: str, inv: Inventory) -> PhaseOutcome:
        (source,) = inv.groups["kboot_backup_source"].hosts
        if source in fail_on:
            return PhaseOutcome(ok=False, failures=(f"{source}: health: no leader",))
        Path(inv.hosts[source].vars["backup_local_path"]).write_bytes(b"snap-" + source.encode())
        return PhaseOutcome(ok=True, changed=2)
    return FakeRunner(act)


def _backup(tmp_path: Path, home: Path, *, fail_on: frozenset[str] = frozenset()) -> Path:
    write_state(home, "prod")
    runner = _snapshotting(set(fail_on))
    events: list[tuple[str, str]] = []
    report = backup(make_inventory(3, 1), runner=runner,
                    on_phase=lambda s, st: events.append((s, st)), dest=tmp_path, now=NOW)
    assert report.path == tmp_path / "kboot-backup-prod-20260506T070809Z.tar.gz"
    assert ("archive", "ok") in events
    return report.path


def test_backup_tries_the_next_member_when_one_fails(tmp_path: Path, kboot_home: Path) -> None:
    path = _backup(tmp_path, kboot_home, fail_on=frozenset({"cp1"}))
    archive = open_archive(path)
    m = archive.manifest
    assert (m.cluster, m.store, m.source) == ("prod", "etcd", "cp2")
    assert [x.name for x in m.members] == ["cp1", "cp2", "cp3"]
    assert m.created == "2026-05-06T07:08:09+00:00"
    assert archive.extract_snapshot(tmp_path / "s.db").read_bytes() == b"snap-cp2"
    assert path.stat().st_mode & 0o777 == 0o600


def test_backup_with_no_member_answering_writes_nothing(tmp_path: Path,
                                                        kboot_home: Path) -> None:
    with pytest.raises(ClusterError, match="no etcd member gave a snapshot") as err:
        _backup(tmp_path, kboot_home, fail_on=frozenset({"cp1", "cp2", "cp3"}))
    assert "cp3: health: no leader" in str(err.value)
    assert not list(tmp_path.glob("*.tar.gz")) and not list(tmp_path.glob(".*"))


def test_backup_needs_the_workstation_state(tmp_path: Path, kboot_home: Path) -> None:
    with pytest.raises(ConfigError, match="no usable workstation state for cluster 'prod'"):
        backup(make_inventory(1, 1), runner=FakeRunner(), on_phase=lambda s, st: None,
               dest=tmp_path)


def test_restore_runs_the_steps_in_order_with_one_token(tmp_path: Path,
                                                        kboot_home: Path) -> None:
    path = _backup(tmp_path, kboot_home)
    inv = make_inventory(3, 1)
    plan = plan_restore(inv, path)
    assert not plan.restore_state and plan.notes == ()
    runner = FakeRunner()
    order: list[str] = []
    runner.act = lambda book, i: (order.append(book), PhaseOutcome(ok=True))[1]

    def verify(topo: Topology, kubeconfig: Path) -> None:
        order.append("verify")
        assert kubeconfig == kboot_home / "clusters/prod/kubeconfigs/admin.kubeconfig"

    restore(plan, runner=runner, on_phase=lambda s, st: None, verify=verify,
            forget=lambda topo, kc: order.append("forget"), now=NOW)
    assert order == ["restore/preflight.yaml", "restore/stop.yaml", "restore/etcd.yaml",
                     "restore/control-plane.yaml", "forget", "restore/nodes.yaml", "forget",
                     "verify", "restore/cleanup.yaml"]
    ran = runner.calls[2][1]
    assert ran.groups[ETCD_GROUP].hosts == ("cp1", "cp2", "cp3")
    commands = {h: shlex.split(ran.hosts[h].vars["etcd_restore_command"])
                for h in ("cp1", "cp2", "cp3")}
    tokens = {next(a for a in c if a.startswith("--initial-cluster-token=")) for c in
              commands.values()}
    assert tokens == {"--initial-cluster-token=prod-restore-20260506070809"}
    assert "--data-dir=/var/lib/kboot/etcd.restore" in commands["cp3"]
    assert "--name=cp3" in commands["cp3"]
    assert "etcd_restore_command" not in ran.hosts["w1"].vars
    cp1 = ran.hosts["cp1"].vars
    assert cp1["restore_snapshot_sha256"] == plan.archive.manifest.snapshot_sha256
    assert cp1["restore_state_dir"] == str(kboot_home / "clusters/prod")
    assert cp1["restore_snapshot_size"] == plan.archive.manifest.snapshot_size


def test_a_failed_preflight_changes_nothing(tmp_path: Path, kboot_home: Path) -> None:
    plan = plan_restore(make_inventory(3, 1), _backup(tmp_path, kboot_home))
    runner = FakeRunner(lambda book, inv: PhaseOutcome(
        ok=False, failures=("w1: unreachable: connection refused",)))
    with pytest.raises(ClusterError, match="restore preflight failed; nothing was changed"):
        restore(plan, runner=runner, on_phase=lambda s, st: None, verify=None, forget=no_api)
    assert [c[0] for c in runner.calls] == ["restore/preflight.yaml"]


def test_a_failed_step_stops_the_restore_and_says_how_to_converge(tmp_path: Path,
                                                                 kboot_home: Path) -> None:
    plan = plan_restore(make_inventory(3, 1), _backup(tmp_path, kboot_home))
    runner = FakeRunner(lambda book, inv: PhaseOutcome(
        ok=book != "restore/etcd.yaml", failures=("cp2: etcd healthy: not healthy after 90s",)))
    with pytest.raises(ClusterError) as err:
        restore(plan, runner=runner, on_phase=lambda s, st: None, verify=None, forget=no_api)
    assert [c[0] for c in runner.calls] == ["restore/preflight.yaml", "restore/stop.yaml",
                                            "restore/etcd.yaml"]
    text = str(err.value)
    assert "restore step etcd failed" in text and ".bak" in text
    assert "re-run `kboot restore` to converge" in text and "cp2: etcd healthy" in text


def test_another_clusters_backup_is_refused(tmp_path: Path, kboot_home: Path) -> None:
    path = _backup(tmp_path, kboot_home)
    with pytest.raises(ConfigError) as err:
        plan_restore(make_inventory(1, 1, name="staging"), path)
    assert str(err.value) == (f"{path} is a backup of cluster 'prod', but staging.yaml describes"
                              " cluster 'staging'; refusing to restore another cluster's data (to"
                              " restore it onto other hosts, set cluster.name: prod in their "
                              "inventory)")


@pytest.mark.parametrize(("rel", "what"), [("encryption.yaml", "Secrets encryption key"),
                                           ("pki/ca.crt", "cluster CA")])
def test_a_recreated_cluster_of_the_same_name_is_refused(tmp_path: Path, kboot_home: Path,
                                                         rel: str, what: str) -> None:
    path = _backup(tmp_path, kboot_home)
    write_state(kboot_home, "prod", **{rel: "NEW\n"})
    with pytest.raises(ConfigError, match=f"its {what} \\({rel}\\) differs"):
        plan_restore(make_inventory(3, 1), path)


def test_lost_workstation_state_comes_from_the_archive(tmp_path: Path, kboot_home: Path) -> None:
    path = _backup(tmp_path, kboot_home)
    state = kboot_home / "clusters/prod"
    for f in sorted(state.rglob("*"), reverse=True):
        f.unlink() if f.is_file() else f.rmdir()
    plan = plan_restore(make_inventory(3, 1), path)
    assert plan.restore_state and not plan.new_hosts
    assert plan.notes == (f"no workstation state at {state}: it is taken from the archive",)
    restore(plan, runner=FakeRunner(), on_phase=lambda s, st: None, verify=None, forget=no_api)
    assert (state / "encryption.yaml").read_text() == "kind: EncryptionConfiguration # key1\n"


def test_cli_refusal_is_one_line_without_traceback(tmp_path: Path, kboot_home: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = _backup(tmp_path, kboot_home)
    inv = tmp_path / "staging.yaml"
    inv.write_text("cluster: {name: staging}\nhosts:\n  cp1: {address: 10.0.0.11}\n"
                   "groups:\n  control_plane: {hosts: [cp1]}\n")
    assert main(["restore", str(inv), str(path), "--yes"]) == 2
    err = "".join(capsys.readouterr().err.split())  # the terminal may wrap it anywhere
    assert err.startswith(f"error:{path}isabackupofcluster'prod'")
    assert "Traceback" not in err
    assert main(["restore", str(inv), str(tmp_path / "nope.tar.gz"), "--yes"]) == 2
    assert "nope.tar.gz:nosuchbackupfile" in "".join(capsys.readouterr().err.split())


def test_archive_path_default_name_directory_and_mistakes(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    topo = topology_from_inventory(make_inventory(1, 1))
    monkeypatch.chdir(tmp_path)
    name = "kboot-backup-prod-20260506T070809Z.tar.gz"
    assert archive_path(None, topo, NOW) == tmp_path / name
    assert archive_path(tmp_path, topo, NOW) == tmp_path / name
    assert archive_path(tmp_path / "x.tgz", topo, NOW) == tmp_path / "x.tgz"
    (tmp_path / "x.tgz").write_text("old")
    with pytest.raises(ConfigError, match=r"x\.tgz exists; choose another file name"):
        archive_path(tmp_path / "x.tgz", topo, NOW)
    with pytest.raises(ConfigError, match="no such directory"):
        archive_path(tmp_path / "missing" / "x.tgz", topo, NOW)
