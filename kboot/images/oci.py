"""OCI image tarballs written by hand, so clusters without a registry still get images.

An image here is one or more *uncompressed* layer tars plus an image config, a manifest, an
``index.json`` carrying both the containerd (``io.containerd.image.name``) and the OCI
(``org.opencontainers.image.ref.name``) name annotations, and ``oci-layout``. Every tar member
has a fixed mtime, owner and order, so building the same input twice yields the same digests —
the manifest digest is a stable identity tests and nodes can compare.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
FIXED_MTIME = 0
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Entry:
    """One member of a layer: a regular file, a directory or a symbolic link."""

    path: str
    kind: str = "file"  # file | dir | symlink
    data: bytes = b""
    mode: int = 0o644
    target: str = ""


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of an image config (what ``docker inspect`` shows under Config)."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = (DEFAULT_PATH,)
    working_dir: str = ""
    exposed_ports: tuple[str, ...] = ()
    architecture: str = "amd64"
    os: str = "linux"
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BuiltImage:
    """What a build produced: the name and the digests a node will know it by."""

    name: str
    manifest_digest: str
    config_digest: str
    layer_digests: tuple[str, ...]
    size: int


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tarinfo(entry: Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.path.strip("/") + ("/" if entry.kind == "dir" else ""))
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = entry.mode
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target
    else:
        info.size = len(entry.data)
    return info


def _with_parents(entries: Iterable[Entry]) -> list[Entry]:
    """Add missing parent directories and sort, so the layer is complete and ordered."""
    by_path = {e.path.strip("/"): e for e in entries}
    for path in list(by_path):
        parent = os.path.dirname(path)
        while parent and parent not in by_path:
            by_path[parent] = Entry(parent, kind="dir", mode=0o755)
            parent = os.path.dirname(parent)
    return [by_path[p] for p in sorted(by_path)]


def layer_tar(entries: Iterable[Entry]) -> bytes:
    """An uncompressed, deterministic layer tar of *entries* (parents added)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in _with_parents(entries):
            data = io.BytesIO(entry.data) if entry.kind == "file" else None
            tar.addfile(_tarinfo(entry), data)
    return buf.getvalue()


def entries_from_directory(root: Path, *, prefix: str = "") -> list[Entry]:
    """Every file, directory and symlink under *root*, modes kept, owners and times dropped."""
    out: list[Entry] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            full = Path(dirpath) / name
            rel = os.path.join(prefix, str(full.relative_to(root)))
            st = full.lstat()
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out.append(Entry(rel, kind="symlink", target=os.readlink(full), mode=0o777))
            elif stat.S_ISDIR(st.st_mode):
                out.append(Entry(rel, kind="dir", mode=mode))
            elif stat.S_ISREG(st.st_mode):
                out.append(Entry(rel, data=full.read_bytes(), mode=mode))
    return out


def _config_json(config: ImageConfig, diff_ids: Sequence[str]) -> bytes:
    runtime: dict[str, object] = {"Env": list(config.env)}
    if config.entrypoint:
        runtime["Entrypoint"] = list(config.entrypoint)
    if config.cmd:
        runtime["Cmd"] = list(config.cmd)
    if config.working_dir:
        runtime["WorkingDir"] = config.working_dir
    if config.exposed_ports:
        runtime["ExposedPorts"] = {p if "/" in p else f"{p}/tcp": {} for p in config.exposed_ports}
    if config.labels:
        runtime["Labels"] = dict(config.labels)
    doc = {
        "architecture": config.architecture,
        "os": config.os,
        "created": "1970-01-01T00:00:00Z",
        "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "kboot image build"}],
    }
    return _canonical(doc)


def _canonical(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _descriptor(media: str, blob: bytes, **extra: object) -> dict[str, object]:
    return {"mediaType": media, "digest": sha256(blob), "size": len(blob), **extra}


def write_image(out: Path, *, name: str, layers: Sequence[bytes],
                config: ImageConfig) -> BuiltImage:
    """Write an OCI image-layout tarball to *out* and return its identity."""
    config_blob = _config_json(config, [sha256(layer) for layer in layers])
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": _descriptor(MEDIA_CONFIG, config_blob),
        "layers": [_descriptor(MEDIA_LAYER, layer) for layer in layers],
    }
    manifest_blob = _canonical(manifest)
    platform = {"architecture": config.architecture, "os": config.os}
    annotations = {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name}
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [
            _descriptor(MEDIA_MANIFEST, manifest_blob, platform=platform, annotations=annotations)
        ],
    }
    files = [Entry("oci-layout", data=_canonical({"imageLayoutVersion": "1.0.0"}))]
    files.append(Entry("index.json", data=_canonical(index)))
    for blob in (config_blob, manifest_blob, *layers):
        files.append(Entry("blobs/sha256/" + sha256(blob).split(":", 1)[1], data=blob))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(layer_tar(files))
    return BuiltImage(
        name=name,
        manifest_digest=sha256(manifest_blob),
        config_digest=sha256(config_blob),
        layer_digests=tuple(sha256(layer) for layer in layers),
        size=sum(len(b) for b in layers),
    )


def import_command(tar_path: str, *, namespace: str = "k8s.io", snapshotter: str = "") -> list[str]:
    """The ``ctr`` command that imports an image tarball into containerd's CRI namespace."""
    cmd = ["ctr", "-n", namespace, "image", "import", "--all-platforms"]
    if snapshotter:
        cmd += ["--snapshotter", snapshotter]
    return [*cmd, tar_path]


def normalise_name(name: str) -> str:
    """``busybox:1.35`` → ``docker.io/library/busybox:1.35`` the way containerd's CRI names it."""
    if ":" not in name.rsplit("/", 1)[-1] and "@" not in name:
        name += ":latest"
    first = name.split("/", 1)[0]
    if "/" not in name:
        return f"docker.io/library/{name}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{name}"
    return name
