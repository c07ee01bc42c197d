"""What the tools left on the hosts: a snapshot of every host root, to compare tools.

A snapshot maps each path under ``/tmp/kbt-bench`` to its type, mode, owner and content
(file bytes' SHA-256, a link's target); timestamps are ignored. The hosts share the
workstation's filesystem, so reading it locally reads every host.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

Entry = tuple[str, str, int, int, str]  # kind, octal mode, uid, gid, content digest / target
Snapshot = dict[str, Entry]


def snapshot(root: Path) -> Snapshot:
    found: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted([*dirnames, *filenames]):
            path = Path(dirpath) / name
            st = path.lstat()
            mode = oct(stat.S_IMODE(st.st_mode))
            if stat.S_ISLNK(st.st_mode):
                entry: Entry = ("link", mode, st.st_uid, st.st_gid, os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                entry = ("dir", mode, st.st_uid, st.st_gid, "")
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
                entry = ("file", mode, st.st_uid, st.st_gid, digest)
            found[str(path.relative_to(root))] = entry
    return found


def differences(expected: Snapshot, actual: Snapshot, *, limit: int = 10) -> list[str]:
    """Human-readable differences (at most ``limit``); empty when identical."""
    lines: list[str] = []
    for path in sorted(set(expected) | set(actual)):
        want, got = expected.get(path), actual.get(path)
        if want != got:
            lines.append(f"{path}: {want} != {got}")
    return lines[:limit] + ([f"... {len(lines) - limit} more"] if len(lines) > limit else [])
