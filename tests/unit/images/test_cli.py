"""``kboot image build``: the three forms, and user errors as UserError."""

from __future__ import annotations

import argparse
import json
import tarfile
from pathlib import Path

import pytest

from kboot.cli.commands import image
from kboot.errors import UserError


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    image.register(parser.add_subparsers())
    args = parser.parse_args(["image", "build", *argv])
    rc: int = args.func(args)
    return rc


def _index(path: Path) -> dict:  # type: ignore[type-arg]
    with tarfile.open(path) as tar:
        return json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr,no-any-return]


def test_pause_busybox_and_directory(tmp_path: Path) -> None:
    assert _run("--pause", "-o", str(tmp_path / "p.tar")) == 0
    assert _index(tmp_path / "p.tar")["manifests"][0]["annotations"][
        "io.containerd.image.name"] == "kboot.io/pause:3.9"
    assert _run("--from-busybox", "me/bb:1", "-o", str(tmp_path / "b.tar")) == 0
    assert _index(tmp_path / "b.tar")["manifests"][0]["annotations"][
        "org.opencontainers.image.ref.name"] == "me/bb:1"
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("x")
    assert _run(str(tmp_path / "site"), "--name", "kboot.io/web:1", "-o",
                str(tmp_path / "w.tar"), "--cmd", "httpd", "-f") == 0
    assert (tmp_path / "w.tar").stat().st_size > 0


@pytest.mark.parametrize("argv", [
    ["-o", "x.tar"],                      # nothing to build
    ["/nonexistent-dir", "--name", "a:1", "-o", "x.tar"],
    ["{tmp}", "-o", "x.tar"],             # directory without --name
])
def test_user_errors(tmp_path: Path, argv: list[str]) -> None:
    with pytest.raises(UserError):
        _run(*[a.replace("{tmp}", str(tmp_path)) for a in argv])
