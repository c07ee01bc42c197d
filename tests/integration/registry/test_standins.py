"""The stand-ins for busybox, nginx and python run: their root filesystems, unpacked, work
under chroot (what a container sees, without a runtime)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from kboot.images.standins import build_standins


def unpack(image: Path, root: Path) -> None:
    with tarfile.open(image) as tar:
        def blob(digest: str) -> bytes:
            member = tar.extractfile("blobs/sha256/" + digest.split(":")[1])
            assert member is not None
            return member.read()
        index = json.loads(blob_of(tar, "index.json"))
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=io.BytesIO(blob(layer["digest"]))) as lt:
                lt.extractall(root, filter="tar")


def blob_of(tar: tarfile.TarFile, name: str) -> bytes:
    member = tar.extractfile(name)
    assert member is not None
    return member.read()


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_standins_run_what_upstream_tests_run(tmp_path: Path) -> None:
    built = {p.stem: (p, b) for p, b in build_standins(tmp_path / "images")}
    assert {b.name for _, b in built.values()} == {
        "docker.io/library/busybox:latest", "docker.io/library/nginx:latest",
        "docker.io/library/python:latest"}
    again = build_standins(tmp_path / "again")
    assert [b.manifest_digest for _, b in again] == [b.manifest_digest for _, b in
                                                      built.values()]  # deterministic
    for name, script in (
            ("python", ["python", "-c", "import socket, http.server, json; print('py ok')"]),
            ("nginx", ["sh", "-c", "grep -c 'Welcome to nginx' /usr/share/nginx/html/index.html"
                                   " && command -v nginx"]),
            ("busybox", ["sh", "-c", "exit 3"])):
        root = tmp_path / name
        unpack(built[name][0], root)
        out = subprocess.run(["chroot", str(root), *script], capture_output=True, text=True)
        if name == "busybox":
            assert out.returncode == 3
        else:
            assert out.returncode == 0, out.stderr
    assert "py ok" in subprocess.run(["chroot", str(tmp_path / "python"), "python3", "-c",
                                      "print('py ok')"], capture_output=True, text=True).stdout
