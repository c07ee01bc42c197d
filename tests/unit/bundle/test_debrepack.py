"""A bundle's debs are re-compressed with zstd (faster for dpkg to unpack on every host): the
package's files and control data stay byte for byte what Debian shipped."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kboot.bundle.debrepack import data_member, repack_deb, repack_debs
from kboot.errors import KbootError

pytestmark = pytest.mark.skipif(
    not (shutil.which("zstd") and shutil.which("dpkg-deb")), reason="needs zstd and dpkg-deb")


def _deb(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: kb-demo\nVersion: 1.0\nArchitecture: all\nMaintainer: k <k@k>\n"
        "Description: demo\n")
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/kb-demo").write_bytes(b"#!/bin/sh\necho hi\n" * 500)
    (root / "usr/bin/odd").write_bytes(b"x")  # an odd-sized member body pads the ar archive
    deb = tmp_path / "kb-demo_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "-b", str(root), str(deb)],
                   check=True, capture_output=True)
    return deb


def _out(*cmd: str) -> bytes:
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def test_an_xz_deb_becomes_zstd_with_the_same_files_and_control(tmp_path: Path) -> None:
    deb = _deb(tmp_path)
    files, control = _out("dpkg-deb", "--fsys-tarfile", str(deb)), _out(
        "dpkg-deb", "-f", str(deb))
    assert data_member(deb) == "data.tar.xz"
    assert repack_deb(deb) is True
    assert data_member(deb) == "data.tar.zst"
    assert _out("dpkg-deb", "--fsys-tarfile", str(deb)) == files
    assert _out("dpkg-deb", "-f", str(deb)) == control
    assert repack_deb(deb) is False  # already zstd: left alone
    assert repack_debs(tmp_path) == 0


def test_a_damaged_deb_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "broken_1_all.deb"
    bad.write_bytes(b"not an ar archive")
    with pytest.raises(KbootError, match=r"broken_1_all\.deb"):
        repack_debs(tmp_path)
