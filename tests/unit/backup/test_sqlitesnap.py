"""The embedded store's backup command and restore swap script, run for real on a temporary
directory: a live WAL database copied consistently, the swap converging when re-run."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from kboot.cluster.sqlitesnap import backup_command, cleanup_paths, db_path, swap_script


def _sh(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)


def _rows(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT v FROM t ORDER BY v")]


@pytest.fixture
def live_db(tmp_path: Path) -> sqlite3.Connection:
    """A database in WAL mode with committed rows still in its WAL (never checkpointed), held
    open by a writer as the apiserver holds it."""
    store = tmp_path / "store"
    store.mkdir(mode=0o700)
    conn = sqlite3.connect(store / "kboot.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [("a",), ("b",)])
    assert (store / "kboot.db-wal").stat().st_size > 0
    return conn


def test_backup_copies_a_live_wal_database_consistently(tmp_path: Path,
                                                        live_db: sqlite3.Connection) -> None:
    live_db.execute("BEGIN")
    live_db.execute("INSERT INTO t VALUES ('uncommitted')")  # a write in flight
    dest = tmp_path / "backup" / "kboot.db"
    dest.parent.mkdir(mode=0o700)
    proc = _sh(backup_command(str(dest), store_dir=str(tmp_path / "store")))
    live_db.execute("ROLLBACK")
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == dest.stat().st_size > 0
    assert _rows(dest) == ["a", "b"]  # the WAL's committed rows, not the one in flight
    assert dest.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in dest.parent.iterdir()) == ["kboot.db"]  # self-contained
    with sqlite3.connect(dest) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    live_db.execute("INSERT INTO t VALUES ('c')")  # the apiserver kept writing throughout


def test_backup_without_a_database_says_so(tmp_path: Path) -> None:
    proc = _sh(backup_command(str(tmp_path / "out.db"), store_dir=str(tmp_path / "none")))
    assert proc.returncode != 0
    assert "no embedded store database at" in proc.stderr
    assert not (tmp_path / "out.db").exists()


def _copy_with(tmp_path: Path, rows: list[str]) -> Path:
    pushed = tmp_path / "pushed.db"
    with sqlite3.connect(pushed) as conn:
        conn.execute("CREATE TABLE t (v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?)", [(r,) for r in rows])
    conn.close()
    return pushed


def test_swap_replaces_the_database_and_keeps_the_old_one_whole(
        tmp_path: Path, live_db: sqlite3.Connection) -> None:
    store = tmp_path / "store"
    (store / "kboot.db-shm").touch()
    old_wal = (store / "kboot.db-wal").read_bytes()
    live_db.close()  # a clean close checkpoints; a killed apiserver leaves -wal and -shm:
    (store / "kboot.db-wal").write_bytes(old_wal)
    (store / "kboot.db-shm").touch()
    pushed = _copy_with(tmp_path, ["restored"])
    script = swap_script(str(pushed), store_dir=str(store))
    proc = _sh(script)
    assert proc.returncode == 0, proc.stderr
    assert _rows(store / "kboot.db") == ["restored"]
    names = sorted(p.name for p in store.iterdir())
    assert names == ["kboot.db", "kboot.db.bak", "kboot.db.bak-wal"], names
    assert (store / "kboot.db.bak-wal").read_bytes() == old_wal
    assert _rows(store / "kboot.db.bak") == ["a", "b"]  # its WAL replayed: the old state
    assert (store / "kboot.db").stat().st_mode & 0o777 == 0o600
    # re-run (an interrupted restore started over): the .bak is the pre-restore one, kept
    assert _sh(script).returncode == 0
    assert _rows(store / "kboot.db") == ["restored"]
    assert _rows(store / "kboot.db.bak") == ["a", "b"]


def test_swap_after_an_interruption_with_no_database_left(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    _copy_with(tmp_path, ["old"]).rename(store / "kboot.db.bak")
    (store / "kboot.db.restore").write_bytes(b"half a copy")
    pushed = _copy_with(tmp_path, ["restored"])
    assert _sh(swap_script(str(pushed), store_dir=str(store))).returncode == 0
    assert _rows(store / "kboot.db") == ["restored"]
    assert _rows(store / "kboot.db.bak") == ["old"]
    assert not (store / "kboot.db.restore").exists()
    assert store.stat().st_mode & 0o777 == 0o700


def test_paths() -> None:
    assert db_path() == "/var/lib/kboot/store/kboot.db"
    assert cleanup_paths("/s") == ["/s/kboot.db.bak", "/s/kboot.db.bak-wal",
                                   "/s/kboot.db.bak-shm", "/s/kboot.db.restore"]
