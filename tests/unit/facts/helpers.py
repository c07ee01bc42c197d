"""Real file trees and a real ``/bin/sh`` for the file facts' commands."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

NOBODY = 65534


def sh(script: str, *, as_nobody: bool = False) -> str:
    """What ``/bin/sh`` prints running ``script`` (as uid/gid 65534 when ``as_nobody``)."""
    argv = ["/bin/sh", "-s"]
    if as_nobody and os.geteuid() == 0:
        argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    return subprocess.run(argv, input=script.encode(), capture_output=True,
                          check=True).stdout.decode()


def own_output(command: str, *, as_nobody: bool = False) -> str:
    """A fact's output as its own command prints it, as fact gathering reads it (which ignores
    its exit code)."""
    script = f"( {command}\n) </dev/null 2>/dev/null || :"
    return sh(script, as_nobody=as_nobody).rstrip("\n")


def tree(tmp_path: Path) -> list[str]:
    """Paths of every kind the file facts meet: files, links, a FIFO, missing and odd names."""
    (tmp_path / "file").write_text("data\n")
    (tmp_path / "empty").write_text("")
    (tmp_path / "dir").mkdir(mode=0o750)
    (tmp_path / "link").symlink_to(tmp_path / "file")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "dirlink").symlink_to(tmp_path / "dir")
    os.mkfifo(tmp_path / "fifo")  # must not be read (it would block)
    (tmp_path / "a|b c").write_text("odd name")
    (tmp_path / "-dash").write_text("not an option")
    (tmp_path / "back\\slash").write_text("kept out of the bulk")
    names = ["file", "empty", "dir", "link", "dangling", "dirlink", "fifo", "missing",
             "a|b c", "-dash", "back\\slash", "dir/missing"]
    return [str(tmp_path / n) for n in names]
