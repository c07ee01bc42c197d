"""OCI image tarballs: layout, digests that match the blobs, determinism, names, config."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from kboot.images import (
    ImageConfig,
    build_busybox,
    build_from_directory,
    build_pause,
    import_command,
    normalise_name,
)


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _blob(files: dict[str, bytes], digest: str) -> bytes:
    return files["blobs/sha256/" + digest.split(":", 1)[1]]


def test_layout_and_digests_match_blobs(tmp_path: Path) -> None:
    image = build_busybox(tmp_path / "bb.tar", name="kboot.io/busybox:1.35")
    files = _members(tmp_path / "bb.tar")
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["index.json"])
    desc = index["manifests"][0]
    assert desc["annotations"] == {"io.containerd.image.name": "kboot.io/busybox:1.35",
                                   "org.opencontainers.image.ref.name": "kboot.io/busybox:1.35"}
    assert desc["digest"] == image.manifest_digest
    manifest_blob = _blob(files, desc["digest"])
    assert "sha256:" + hashlib.sha256(manifest_blob).hexdigest() == desc["digest"]
    manifest = json.loads(manifest_blob)
    config = json.loads(_blob(files, manifest["config"]["digest"]))
    layer = _blob(files, manifest["layers"][0]["digest"])
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert config["config"]["Cmd"] == ["sh"]


def test_busybox_layer_has_applets_as_symlinks(tmp_path: Path) -> None:
    build_busybox(tmp_path / "bb.tar")
    files = _members(tmp_path / "bb.tar")
    manifest = json.loads(_blob(files, json.loads(files["index.json"])["manifests"][0]["digest"]))
    layer = _blob(files, manifest["layers"][0]["digest"])
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode == 0o755
    for applet in ("bin/sh", "usr/sbin/httpd", "usr/bin/nc", "bin/sleep"):
        assert members[applet].issym() and members[applet].linkname == "/bin/busybox"
    assert members["tmp"].mode == 0o1777
    assert all(m.mtime == 0 and m.uid == 0 for m in members.values())


def test_builds_are_deterministic(tmp_path: Path) -> None:
    one = build_pause(tmp_path / "a.tar")
    two = build_pause(tmp_path / "b.tar")
    assert one.manifest_digest == two.manifest_digest
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    assert one.name == "kboot.io/pause:3.9"


def test_pause_entrypoint_traps_signals(tmp_path: Path) -> None:
    build_pause(tmp_path / "p.tar")
    files = _members(tmp_path / "p.tar")
    manifest = json.loads(_blob(files, json.loads(files["index.json"])["manifests"][0]["digest"]))
    cfg = json.loads(_blob(files, manifest["config"]["digest"]))["config"]
    assert cfg["Entrypoint"][:2] == ["/bin/sh", "-c"] and "trap" in cfg["Entrypoint"][2]


def test_from_directory_keeps_modes_and_config(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "www").mkdir(parents=True)
    (root / "www" / "index.html").write_text("hi")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o750)
    cfg = ImageConfig(cmd=("/run.sh",), env=("A=1",), working_dir="/www",
                      exposed_ports=("80",))
    image = build_from_directory(root, tmp_path / "d.tar", name="kboot.io/web:1", config=cfg)
    files = _members(tmp_path / "d.tar")
    manifest = json.loads(_blob(files, image.manifest_digest))
    config = json.loads(_blob(files, manifest["config"]["digest"]))["config"]
    assert config == {"Cmd": ["/run.sh"], "Env": ["A=1"], "WorkingDir": "/www",
                      "ExposedPorts": {"80/tcp": {}}}
    with tarfile.open(fileobj=io.BytesIO(_blob(files, manifest["layers"][0]["digest"]))) as tar:
        assert tar.getmember("run.sh").mode == 0o750
        assert tar.extractfile("www/index.html").read() == b"hi"  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "expected"), [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.35", "docker.io/library/busybox:1.35"),
    ("me/app:2", "docker.io/me/app:2"),
    ("kboot.io/pause:3.9", "kboot.io/pause:3.9"),
    ("localhost:5000/x", "localhost:5000/x:latest"),
])
def test_normalise_name(name: str, expected: str) -> None:
    assert normalise_name(name) == expected


def test_import_command() -> None:
    assert import_command("/x.tar") == ["ctr", "-n", "k8s.io", "image", "import",
                                        "--all-platforms", "/x.tar"]
