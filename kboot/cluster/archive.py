"""The backup archive: one gzipped tar that ``kboot backup`` writes and ``kboot restore`` reads.

Layout::

    manifest.json          what this is (cluster, store kind, members, kboot version, time)
    store/etcd.db          store ``etcd``: the etcd snapshot (``etcdctl snapshot save``)
    store/kboot.db         store ``sqlite``: a copy of the embedded store's database (SQLite
                           online backup API, see :mod:`kboot.cluster.sqlitesnap`)
    state/…                the cluster's workstation state dir: PKI, kubeconfigs, the Secrets
                           encryption key (``encryption.yaml``), tokens

The snapshot alone is not enough: Secrets in it are encrypted with the key in
``encryption.yaml``, and ServiceAccount tokens are signed with ``pki/sa.key``. The archive is
written with mode 0600 (atomically: a temporary file renamed into place) since it holds keys.
Reading validates everything before anything is extracted; members are extracted only by name,
never by a path taken from the archive.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from kboot import __version__
from kboot.errors import ConfigError

FORMAT = "kboot-backup/1"
FORMAT_PREFIX = "kboot-backup/"
MANIFEST = "manifest.json"
ETCD_SNAPSHOT = "store/etcd.db"
SNAPSHOTS = {"etcd": ETCD_SNAPSHOT, "sqlite": "store/kboot.db"}  # store kind -> archive member
STATE_PREFIX = "state/"
STORES = tuple(SNAPSHOTS)


@dataclass(frozen=True)
class Member:
    name: str
    address: str


@dataclass(frozen=True)
class Manifest:
    cluster: str
    store: str
    members: tuple[Member, ...]
    kboot_version: str
    created: str  # ISO 8601, UTC
    snapshot_sha256: str
    snapshot_size: int
    source: str  # the member (etcd) or control plane (sqlite) the snapshot was taken on
    # the cluster's networks at backup time (restore onto new hosts refuses another service
    # CIDR or cluster domain: the snapshot's Services and DNS names use them); absent ("") in
    # archives of an older kboot
    service_cidr: str = ""
    cluster_domain: str = ""

    @property
    def snapshot_path(self) -> str:
        return SNAPSHOTS[self.store]

    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT,
            "cluster": self.cluster,
            "store": self.store,
            "members": [{"name": m.name, "address": m.address} for m in self.members],
            "kbootVersion": self.kboot_version,
            "created": self.created,
            "network": {"serviceCIDR": self.service_cidr, "clusterDomain": self.cluster_domain},
            "snapshot": {"path": self.snapshot_path, "sha256": self.snapshot_sha256,
                         "size": self.snapshot_size, "source": self.source},
        }, indent=2) + "\n"


def manifest_from_json(text: str | bytes, *, source: str) -> Manifest:
    """Parse and validate ``manifest.json``; ConfigError naming the archive and the field."""
    def bad(what: str) -> ConfigError:
        return ConfigError(f"{source}: not a kboot backup archive ({what})")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise bad(f"{MANIFEST} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise bad(f"{MANIFEST} is not an object")
    fmt = data.get("format")
    if isinstance(fmt, str) and fmt.startswith(FORMAT_PREFIX) and fmt != FORMAT:
        raise ConfigError(
            f"{source}: written by a newer kboot ({data.get('kbootVersion', '?')}, archive "
            f"format {fmt!r}); this kboot ({__version__}) reads {FORMAT!r} — restore it with "
            "that kboot version or a later one")
    if fmt != FORMAT:
        raise bad(f"format {fmt!r}, expected {FORMAT!r}")
    snap = data.get("snapshot")
    members = data.get("members")
    network = data.get("network", {})
    if not isinstance(snap, dict) or not isinstance(members, list) or not isinstance(network,
                                                                                     dict):
        raise bad(f"{MANIFEST} lacks snapshot or members")
    try:
        manifest = Manifest(
            cluster=_text(data, "cluster"), store=_text(data, "store"),
            members=tuple(Member(_text(m, "name"), _text(m, "address")) for m in members),
            kboot_version=_text(data, "kbootVersion"), created=_text(data, "created"),
            snapshot_sha256=_text(snap, "sha256"), snapshot_size=int(snap["size"]),
            source=_text(snap, "source"),
            service_cidr=str(network.get("serviceCIDR") or ""),
            cluster_domain=str(network.get("clusterDomain") or ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"{MANIFEST}: missing or wrong field {exc.args[0] if exc.args else exc}"
                  ) from None
    if newer_version(manifest.kboot_version, __version__):
        raise ConfigError(
            f"{source}: written by kboot {manifest.kboot_version}, newer than this kboot "
            f"({__version__}); its snapshot may hold objects this kboot cannot read — restore it"
            f" with kboot {manifest.kboot_version} or later")
    if manifest.store not in STORES:
        raise ConfigError(f"{source}: store {manifest.store!r} is not supported by this kboot "
                          f"(supported: {', '.join(STORES)})")
    return manifest


def _release(version: str) -> tuple[int, ...]:
    """The leading release numbers of a version (``0.2.0rc1`` → (0, 2, 0)); () if none."""
    match = re.match(r"v?(\d+(?:\.\d+)*)", version.strip())
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def newer_version(version: str, than: str) -> bool:
    """True when release ``version`` is later than ``than`` (pre-release tags are ignored: a
    backup of 0.2.0rc1 restores with 0.2.0; one of 0.2.0 not with 0.1.9)."""
    a, b = _release(version), _release(than)
    width = max(len(a), len(b))
    return bool(a) and bool(b) and a + (0,) * (width - len(a)) > b + (0,) * (width - len(b))


def _text(data: Any, key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise ValueError(key)
    return value


def default_archive_name(cluster: str, now: datetime.datetime) -> str:
    """``kboot-backup-<cluster>-<UTC timestamp>.tar.gz``: sorts by time, never collides in
    practice (one per second)."""
    stamp = now.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"kboot-backup-{cluster}-{stamp}.tar.gz"


def sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _state_files(state: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(state.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path, STATE_PREFIX + path.relative_to(state).as_posix()


def write_archive(dest: Path, manifest: Manifest, *, snapshot: Path, state: Path) -> None:
    """Write the archive at ``dest`` (mode 0600, atomically); never overwrites a file."""
    if dest.exists():
        raise ConfigError(f"{dest} exists; choose another file name (-o)")
    tmp = dest.with_name(f".{dest.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            _add_bytes(tar, MANIFEST, manifest.to_json().encode())
            tar.add(snapshot, arcname=manifest.snapshot_path, recursive=False)
            for path, arcname in _state_files(state):
                tar.add(path, arcname=arcname, recursive=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    tar.addfile(info, io.BytesIO(data))


@dataclass(frozen=True)
class Archive:
    """A validated archive on disk: its manifest and the names of its state files."""

    path: Path
    manifest: Manifest
    state_files: tuple[str, ...]  # relative to the state dir

    def extract_snapshot(self, dest: Path) -> Path:
        """Write the snapshot to ``dest`` (0600) and check its digest against the manifest."""
        with tarfile.open(self.path, "r:gz") as tar:
            _copy_member(tar, self.manifest.snapshot_path, dest)
        if sha256_file(dest) != self.manifest.snapshot_sha256:
            raise ConfigError(f"{self.path}: the snapshot does not match its manifest's sha256 "
                              "(damaged archive)")
        return dest

    def read_state_file(self, rel: str) -> bytes | None:
        if rel not in self.state_files:
            return None
        with tarfile.open(self.path, "r:gz") as tar:
            fh = tar.extractfile(STATE_PREFIX + rel)
            return fh.read() if fh is not None else None

    def extract_state(self, dest: Path) -> None:
        """The workstation state dir as it was at backup time (directories 0700, files 0600)."""
        with tarfile.open(self.path, "r:gz") as tar:
            for rel in self.state_files:
                _copy_member(tar, STATE_PREFIX + rel, dest / rel)


def _copy_member(tar: tarfile.TarFile, name: str, dest: Path) -> None:
    fh = tar.extractfile(name)
    if fh is None:
        raise ConfigError(f"{name} is not a file in the archive")
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        _pump(fh, out)


def _pump(src: IO[bytes], dst: IO[bytes]) -> None:
    for chunk in iter(lambda: src.read(1 << 20), b""):
        dst.write(chunk)


def open_archive(path: Path) -> Archive:
    """Read and validate an archive; ConfigError (a user mistake) for anything wrong."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such backup file")
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers()}
            if MANIFEST not in members:
                raise ConfigError(f"{path}: not a kboot backup archive (no {MANIFEST})")
            fh = tar.extractfile(MANIFEST)
            manifest = manifest_from_json(fh.read() if fh else b"", source=str(path))
            if manifest.snapshot_path not in members:
                raise ConfigError(f"{path}: not a kboot backup archive (no "
                                  f"{manifest.snapshot_path} for its {manifest.store} store)")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ConfigError(f"{path}: not a kboot backup archive ({exc})") from None
    state = tuple(_state_name(name, path) for name, m in members.items()
                  if name.startswith(STATE_PREFIX) and m.isfile())
    return Archive(path, manifest, state)


def _state_name(name: str, archive: Path) -> str:
    rel = PurePosixPath(name[len(STATE_PREFIX):])
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ConfigError(f"{archive}: unsafe path {name!r} in the archive")
    return rel.as_posix()
