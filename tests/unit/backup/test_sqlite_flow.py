"""backup() and restore() on a cluster with the embedded store (``cluster.datastore: sqlite``)
over a fake runner, and the refusal to restore a backup onto the other kind of store."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest

from kboot.cli.main import main
from kboot.cluster.archive import open_archive
from kboot.cluster.backup import backup
from kboot.cluster.restore import plan_restore, restore
from kboot.cluster.up import PhaseOutcome
from kboot.cluster.vars import ETCD_GROUP, SQLITE_GROUP
from kboot.errors import ClusterError, ConfigError
from kboot.inventory import Inventory
from tests.unit.backup.conftest import FakeRunner, make_inventory, no_api, write_state

NOW = datetime.datetime(2026, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)


def _sqlite(inv: Inventory) -> Inventory:
    return dataclasses.replace(inv, cluster={**inv.cluster, "datastore": "sqlite"})


def _copying(fail: bool = False) -> FakeRunner:
    def act(book: str, inv: Inventory) -> PhaseOutcome:
        (source,) = inv.groups["kboot_backup_source"].hosts
        if fail:
            return PhaseOutcome(ok=False, failures=(f"{source}: no embedded store database",))
        Path(inv.hosts[source].vars["backup_local_path"]).write_bytes(b"SQLite format 3\0db")
        return PhaseOutcome(ok=True, changed=2)
    return FakeRunner(act)


def _backup(tmp_path: Path, home: Path, *, datastore: str = "sqlite") -> Path:
    write_state(home, "prod")
    inv = make_inventory(1, 1)
    inv = _sqlite(inv) if datastore == "sqlite" else inv
    runner = _copying() if datastore == "sqlite" else FakeRunner(
        lambda book, i: (Path(i.hosts["cp1"].vars["backup_local_path"]).write_bytes(b"etcd"),
                         PhaseOutcome(ok=True))[1])
    return backup(inv, runner=runner, on_phase=lambda s, st: None, dest=tmp_path,
                  now=NOW).path


def test_backup_copies_the_embedded_store_on_the_control_plane(tmp_path: Path,
                                                               kboot_home: Path) -> None:
    write_state(kboot_home, "prod")
    runner = _copying()
    report = backup(_sqlite(make_inventory(1, 1)), runner=runner, on_phase=lambda s, st: None,
                    dest=tmp_path, now=NOW)
    ((book, inv),) = runner.calls
    assert book == "backup/sqlite-copy.yaml"
    assert inv.groups["kboot_backup_source"].hosts == ("cp1",)
    cp1 = inv.hosts["cp1"].vars
    assert cp1["backup_file"] == "/var/lib/kboot/backup/kboot.db"
    assert cp1["sqlite_backup_command"].startswith("python3 -c ")
    assert cp1["sqlite_backup_command"].endswith(
        " /var/lib/kboot/store/kboot.db /var/lib/kboot/backup/kboot.db")
    archive = open_archive(report.path)
    m = archive.manifest
    assert (m.store, m.source, [x.name for x in m.members]) == ("sqlite", "cp1", ["cp1"])
    assert archive.extract_snapshot(tmp_path / "x.db").read_bytes() == b"SQLite format 3\0db"


def test_a_failed_copy_writes_nothing(tmp_path: Path, kboot_home: Path) -> None:
    write_state(kboot_home, "prod")
    with pytest.raises(ClusterError, match="the control plane gave no copy of the embedded "
                                           "store; nothing was written") as err:
        backup(_sqlite(make_inventory(1, 1)), runner=_copying(fail=True),
               on_phase=lambda s, st: None, dest=tmp_path, now=NOW)
    assert "cp1: no embedded store database" in str(err.value)
    assert not list(tmp_path.glob("*.tar.gz")) and not list(tmp_path.glob(".*"))


def test_restore_swaps_the_database_on_the_control_plane(tmp_path: Path,
                                                         kboot_home: Path) -> None:
    plan = plan_restore(_sqlite(make_inventory(1, 1)), _backup(tmp_path, kboot_home))
    assert plan.notes == ()
    runner = FakeRunner()
    order: list[str] = []
    runner.act = lambda book, i: (order.append(book), PhaseOutcome(ok=True))[1]
    restore(plan, runner=runner, on_phase=lambda s, st: None,
            verify=lambda topo, kc: order.append("verify"),
            forget=lambda topo, kc: order.append("forget"), now=NOW)
    assert order == ["restore/preflight.yaml", "restore/stop.yaml", "restore/sqlite.yaml",
                     "restore/control-plane.yaml", "forget", "restore/nodes.yaml", "forget",
                     "verify", "restore/cleanup.yaml"]
    inv = runner.calls[2][1]
    assert inv.groups[SQLITE_GROUP].hosts == ("cp1",) and inv.groups[ETCD_GROUP].hosts == ()
    cp1 = inv.hosts["cp1"].vars
    assert cp1["sqlite_pushed"] == "/var/lib/kboot/restore/kboot.db"
    assert "mv /var/lib/kboot/store/kboot.db.restore /var/lib/kboot/store/kboot.db" in (
        cp1["sqlite_swap_script"])
    assert "/var/lib/kboot/store/kboot.db.bak" in cp1["sqlite_cleanup_paths"]
    assert "/var/lib/kboot/restore" in cp1["sqlite_cleanup_paths"]
    assert cp1["restore_snapshot_sha256"] == plan.archive.manifest.snapshot_sha256


def test_an_etcd_cluster_has_no_embedded_store_group(tmp_path: Path, kboot_home: Path) -> None:
    plan = plan_restore(make_inventory(1, 1), _backup(tmp_path, kboot_home, datastore="etcd"))
    runner = FakeRunner()
    restore(plan, runner=runner, on_phase=lambda s, st: None, verify=None, forget=no_api, now=NOW)
    assert [c[0] for c in runner.calls][2] == "restore/etcd.yaml"
    assert runner.calls[2][1].groups[SQLITE_GROUP].hosts == ()


def test_a_failed_swap_names_the_kept_database(tmp_path: Path, kboot_home: Path) -> None:
    plan = plan_restore(_sqlite(make_inventory(1, 1)), _backup(tmp_path, kboot_home))
    runner = FakeRunner(lambda book, inv: PhaseOutcome(
        ok=book != "restore/sqlite.yaml", failures=("cp1: swapped in: disk full",)))
    with pytest.raises(ClusterError) as err:
        restore(plan, runner=runner, on_phase=lambda s, st: None, verify=None, forget=no_api)
    text = str(err.value)
    assert text.startswith("restore step sqlite failed; the pre-restore database is kept as "
                           "/var/lib/kboot/store/kboot.db.bak; re-run `kboot restore`")


@pytest.mark.parametrize(("backed_up", "target", "message"), [
    ("sqlite", "etcd", "is a backup of the embedded sqlite store, but cluster 'prod' runs on "
                       "the etcd store (cluster.datastore in prod.yaml); a backup restores "
                       "only onto the same kind of store"),
    ("etcd", "sqlite", "is a backup of the etcd store, but cluster 'prod' runs on the embedded"
                       " sqlite store (cluster.datastore in prod.yaml); a backup restores only"
                       " onto the same kind of store"),
])
def test_a_backup_of_the_other_store_kind_is_refused(tmp_path: Path, kboot_home: Path,
                                                     backed_up: str, target: str,
                                                     message: str) -> None:
    path = _backup(tmp_path, kboot_home, datastore=backed_up)
    inv = make_inventory(1, 1)
    with pytest.raises(ConfigError) as err:
        plan_restore(_sqlite(inv) if target == "sqlite" else inv, path)
    assert str(err.value) == f"{path} {message}"


def test_cli_refuses_the_other_store_kind_in_one_line(tmp_path: Path, kboot_home: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    path = _backup(tmp_path, kboot_home, datastore="sqlite")
    inv = tmp_path / "prod.yaml"
    inv.write_text("cluster: {name: prod}\nhosts:\n  cp1: {address: 10.0.0.11}\n"
                   "groups:\n  control_plane: {hosts: [cp1]}\n")
    assert main(["restore", str(inv), str(path), "--yes"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "is a backup of the embedded sqlite store" in "".join(err.split("\n"))
