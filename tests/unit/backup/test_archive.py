from __future__ import annotations

import datetime
import io
import json
import tarfile
from pathlib import Path

import pytest

from kboot.cluster.archive import (
    Manifest,
    Member,
    default_archive_name,
    manifest_from_json,
    open_archive,
    sha256_file,
    write_archive,
)
from kboot.errors import ConfigError
from tests.unit.backup.conftest import write_state


def _manifest(snapshot: Path, **kw: object) -> Manifest:
    fields = {"cluster": "prod", "store": "etcd",
              "members": (Member("cp1", "10.0.0.11"), Member("cp2", "10.0.0.12")),
              "kboot_version": "0.1.0", "created": "2026-01-02T03:04:05+00:00",
              "snapshot_sha256": sha256_file(snapshot), "snapshot_size": snapshot.stat().st_size,
              "source": "cp1", **kw}
    return Manifest(**fields)  # type: ignore[arg-type]


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    path = tmp_path / "etcd.db"
    path.write_bytes(b"etcd-snapshot-bytes" * 100)
    return path


def test_manifest_round_trips_through_json(snapshot: Path) -> None:
    m = _manifest(snapshot)
    data = json.loads(m.to_json())
    assert data["format"] == "kboot-backup/1"
    assert data["members"] == [{"name": "cp1", "address": "10.0.0.11"},
                               {"name": "cp2", "address": "10.0.0.12"}]
    assert data["snapshot"]["path"] == "store/etcd.db"
    assert manifest_from_json(m.to_json(), source="a.tgz") == m


@pytest.mark.parametrize(("change", "message"), [
    ({"format": "velero/1"}, "format 'velero/1', expected 'kboot-backup/1'"),
    ({"cluster": ""}, "missing or wrong field cluster)"),
    ({"snapshot": None}, "lacks snapshot or members"),
    ({"store": "mysql"}, "store 'mysql' is not supported by this kboot (supported: etcd, "
                         "sqlite)"),
])
def test_bad_manifests_are_named(snapshot: Path, change: dict[str, object],
                                 message: str) -> None:
    data = {**json.loads(_manifest(snapshot).to_json()), **change}
    with pytest.raises(ConfigError, match=r"^a\.tgz: ") as err:
        manifest_from_json(json.dumps(data), source="a.tgz")
    assert message in str(err.value)


def test_manifest_that_is_not_json() -> None:
    with pytest.raises(ConfigError, match=r"not a kboot backup archive.*not JSON"):
        manifest_from_json("{", source="a.tgz")


def test_default_name_has_cluster_and_utc_time() -> None:
    cet = datetime.timezone(datetime.timedelta(hours=1))
    now = datetime.datetime(2026, 3, 4, 6, 7, 8, tzinfo=cet)
    assert default_archive_name("prod", now) == "kboot-backup-prod-20260304T050708Z.tar.gz"


def test_archive_is_0600_and_carries_snapshot_and_state(tmp_path: Path, snapshot: Path) -> None:
    state = write_state(tmp_path / "home", "prod")
    dest = tmp_path / "b.tar.gz"
    write_archive(dest, _manifest(snapshot), snapshot=snapshot, state=state)
    assert dest.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob(".*.tmp"))
    archive = open_archive(dest)
    assert archive.manifest.cluster == "prod"
    assert set(archive.state_files) == {"encryption.yaml", "pki/ca.crt", "pki/etcd/ca.crt",
                                        "pki/sa.key", "kubeconfigs/admin.kubeconfig"}
    assert archive.read_state_file("pki/ca.crt") == b"CA-1\n"
    assert archive.read_state_file("nope") is None
    out = archive.extract_snapshot(tmp_path / "out" / "etcd.db")
    assert out.read_bytes() == snapshot.read_bytes()
    assert out.stat().st_mode & 0o777 == 0o600
    archive.extract_state(tmp_path / "restored")
    assert (tmp_path / "restored/encryption.yaml").read_text() == (state / "encryption.yaml"
                                                                   ).read_text()
    assert (tmp_path / "restored/pki/sa.key").stat().st_mode & 0o777 == 0o600


def test_existing_file_is_never_overwritten(tmp_path: Path, snapshot: Path) -> None:
    dest = tmp_path / "b.tar.gz"
    dest.write_text("precious")
    with pytest.raises(ConfigError, match="exists; choose another file name"):
        write_archive(dest, _manifest(snapshot), snapshot=snapshot, state=tmp_path / "none")
    assert dest.read_text() == "precious"


def test_snapshot_not_matching_its_digest_is_refused(tmp_path: Path, snapshot: Path) -> None:
    dest = tmp_path / "b.tar.gz"
    write_archive(dest, _manifest(snapshot, snapshot_sha256="0" * 64), snapshot=snapshot,
                  state=tmp_path / "empty")
    with pytest.raises(ConfigError, match="does not match its manifest's sha256"):
        open_archive(dest).extract_snapshot(tmp_path / "x.db")


def _tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_not_an_archive(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_text("hello")
    with pytest.raises(ConfigError, match=r"junk\.tar\.gz: not a kboot backup archive"):
        open_archive(junk)
    with pytest.raises(ConfigError, match="no such backup file"):
        open_archive(tmp_path / "missing.tar.gz")
    other = _tar(tmp_path / "other.tar.gz", {"etc/passwd": b"x"})
    with pytest.raises(ConfigError, match=r"not a kboot backup archive \(no manifest.json\)"):
        open_archive(other)


def test_sqlite_archive_carries_the_database_under_its_own_name(tmp_path: Path,
                                                               snapshot: Path) -> None:
    dest = tmp_path / "b.tar.gz"
    manifest = _manifest(snapshot, store="sqlite", members=(Member("cp1", "10.0.0.11"),))
    write_archive(dest, manifest, snapshot=snapshot, state=tmp_path / "empty")
    with tarfile.open(dest, "r:gz") as tar:
        assert "store/kboot.db" in tar.getnames() and "store/etcd.db" not in tar.getnames()
    archive = open_archive(dest)
    assert archive.manifest == manifest
    assert json.loads(manifest.to_json())["snapshot"]["path"] == "store/kboot.db"
    assert archive.extract_snapshot(tmp_path / "x.db").read_bytes() == snapshot.read_bytes()


def test_snapshot_missing_for_the_manifests_store_is_refused(tmp_path: Path,
                                                            snapshot: Path) -> None:
    manifest = _manifest(snapshot, store="sqlite").to_json().encode()
    bad = _tar(tmp_path / "bad.tar.gz", {"manifest.json": manifest,
                                        "store/etcd.db": snapshot.read_bytes()})
    with pytest.raises(ConfigError, match=r"no store/kboot\.db for its sqlite store"):
        open_archive(bad)


def test_unsafe_state_path_is_refused(tmp_path: Path, snapshot: Path) -> None:
    manifest = _manifest(snapshot).to_json().encode()
    bad = _tar(tmp_path / "bad.tar.gz", {"manifest.json": manifest,
                                        "store/etcd.db": snapshot.read_bytes(),
                                        "state/../../etc/cron.d/x": b"x"})
    with pytest.raises(ConfigError, match="unsafe path"):
        open_archive(bad)
