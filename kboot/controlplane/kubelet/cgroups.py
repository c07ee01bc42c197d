"""Pod-level cgroups: containerd creates ``<cgroup-root>/pod<uid>`` but never removes it.

The kubelet removes the pod's cgroup (every v1 controller hierarchy, or the unified v2 tree)
after RemovePodSandbox, deepest directories first; a cgroup that still has tasks stays and is
logged, never forced.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)
CGROUP_FS = Path("/sys/fs/cgroup")


def hierarchies(base: Path = CGROUP_FS) -> list[Path]:
    if (base / "cgroup.controllers").exists():  # pure cgroup v2
        return [base]
    return [p for p in base.iterdir() if p.is_dir() and not p.is_symlink()] if base.is_dir() else []


def remove_cgroup(parent: str, *, base: Path = CGROUP_FS) -> None:
    """Remove ``/sys/fs/cgroup/*/<parent>`` trees (empty ones only)."""
    rel = parent.strip("/")
    if not rel:
        return
    for hierarchy in hierarchies(base):
        top = hierarchy / rel
        if not top.is_dir():
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
            try:
                os.rmdir(dirpath)
            except OSError as exc:
                log.debug("cgroup %s not removed: %s", dirpath, exc)
