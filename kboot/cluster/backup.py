"""``kboot backup``: one archive on the workstation with everything a restore needs.

The store kind follows the inventory's ``cluster.datastore``:

- ``etcd``: a snapshot taken on one healthy member (``playbooks/backup/etcd-snapshot.yaml``);
  members are tried in inventory order, so a backup works while a minority is down.
- ``sqlite``: a consistent copy of the embedded store's database, taken on its one control plane
  with SQLite's online backup API while the apiserver runs (``playbooks/backup/sqlite-copy.yaml``,
  :mod:`kboot.cluster.sqlitesnap`).

The archive (:mod:`kboot.cluster.archive`) names the kind in its manifest (a restore refuses an
archive of the other kind) and also carries the workstation state dir, since the snapshot's
Secrets are only readable with the cluster's encryption key.
"""

from __future__ import annotations

import datetime
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kboot import __version__
from kboot.cluster.archive import (
    Manifest,
    Member,
    default_archive_name,
    sha256_file,
    write_archive,
)
from kboot.cluster.etcdsnap import base_vars, etcdctl, ops_inventory, snapshot_save_command
from kboot.cluster.resources import playbooks_dir
from kboot.cluster.sqlitesnap import DB_NAME, backup_command
from kboot.cluster.topology import Node, Topology, state_dir, topology_from_inventory
from kboot.cluster.up import PlaybookRunner
from kboot.errors import ClusterError, ConfigError
from kboot.inventory import Inventory

SOURCE_GROUP = "kboot_backup_source"
REQUIRED_STATE = ("encryption.yaml", "pki/ca.crt", "pki/etcd/ca.crt", "pki/sa.key")

PhaseCallback = Callable[[str, str], None]  # (step, "start"|"ok"|"failed")


@dataclass(frozen=True)
class BackupReport:
    path: Path
    manifest: Manifest
    failures: tuple[str, ...] = ()  # members that could not give a snapshot (another did)


def check_state(state: Path, cluster: str) -> None:
    """The workstation state the archive must carry; ConfigError when it is not there."""
    missing = [rel for rel in REQUIRED_STATE if not (state / rel).is_file()]
    if missing:
        raise ConfigError(
            f"no usable workstation state for cluster {cluster!r} at {state} (missing: "
            f"{', '.join(missing)}); a backup needs the keys the cluster was built with — run "
            "it with the KBOOT_HOME that `kboot up` used")


def archive_path(dest: Path | None, topo: Topology, now: datetime.datetime) -> Path:
    path = dest if dest is not None else Path.cwd() / default_archive_name(topo.name, now)
    if path.is_dir():
        path = path / default_archive_name(topo.name, now)
    if path.exists():
        raise ConfigError(f"{path} exists; choose another file name (-o)")
    if not path.parent.is_dir():
        raise ConfigError(f"{path.parent}: no such directory")
    return path


def backup(inventory: Inventory, *, runner: PlaybookRunner, on_phase: PhaseCallback,
           dest: Path | None = None, now: datetime.datetime | None = None) -> BackupReport:
    """Snapshot the store, fetch it and write the archive; raises ClusterError when no member
    could give a snapshot (nothing is written then)."""
    now = now or datetime.datetime.now(datetime.UTC)
    topo = topology_from_inventory(inventory)
    state = state_dir(topo.name)
    check_state(state, topo.name)
    path = archive_path(dest, topo, now)
    with tempfile.TemporaryDirectory(prefix="kboot-backup-") as tmp:
        local = Path(tmp) / "store.db"
        source, failures = _snapshot(inventory, topo, runner, on_phase, local)
        manifest = Manifest(
            cluster=topo.name, store=topo.datastore,
            members=tuple(Member(n.name, n.ip) for n in _sources(topo)),
            kboot_version=__version__,
            created=now.astimezone(datetime.UTC).isoformat(timespec="seconds"),
            snapshot_sha256=sha256_file(local), snapshot_size=local.stat().st_size,
            source=source, service_cidr=topo.service_cidr,
            cluster_domain=topo.cluster_domain)
        on_phase("archive", "start")
        write_archive(path, manifest, snapshot=local, state=state)
        on_phase("archive", "ok")
    return BackupReport(path=path, manifest=manifest, failures=failures)


def _sources(topo: Topology) -> tuple[Node, ...]:
    """Where the store lives: the etcd members, or the control plane with the embedded store."""
    return topo.control_planes if topo.datastore == "sqlite" else topo.etcd_members


def _snapshot_vars(topo: Topology, local: Path) -> tuple[Path, dict[str, Any]]:
    """The playbook that takes the store's snapshot on one host, and its variables."""
    books = playbooks_dir() / "backup"
    backup_dir = str(base_vars()["backup_dir"])
    common = {**base_vars(), "backup_local_path": str(local)}
    if topo.datastore == "sqlite":
        return books / "sqlite-copy.yaml", {
            **common, "backup_file": f"{backup_dir}/{DB_NAME}",
            "sqlite_backup_command": backup_command(f"{backup_dir}/{DB_NAME}")}
    return books / "etcd-snapshot.yaml", {
        **common, "etcdctl_local": etcdctl(),
        "snapshot_save_command": snapshot_save_command(f"{backup_dir}/etcd.db")}


def _snapshot(inventory: Inventory, topo: Topology, runner: PlaybookRunner,
              on_phase: PhaseCallback, local: Path) -> tuple[str, tuple[str, ...]]:
    book, defaults = _snapshot_vars(topo, local)
    failures: list[str] = []
    for member in _sources(topo):
        inv = ops_inventory(inventory, topo, defaults=defaults,
                            groups={SOURCE_GROUP: [member.name]})
        on_phase(f"snapshot on {member.name}", "start")
        outcome = runner(book, inv, phase="snapshot")
        if outcome.ok and local.is_file() and local.stat().st_size > 0:
            on_phase(f"snapshot on {member.name}", "ok")
            return member.name, tuple(failures)
        on_phase(f"snapshot on {member.name}", "failed")
        failures += outcome.failures or (f"{member.name}: no snapshot fetched",)
    what = ("the control plane gave no copy of the embedded store" if topo.datastore == "sqlite"
            else "no etcd member gave a snapshot")
    raise ClusterError(f"{what}; nothing was written:\n  " + "\n  ".join(failures))
