"""How the lab runs host commands, and what it needs from this machine (root, tools).

Every host command goes through :func:`run`, which raises :class:`LabError` carrying the command
and the tail of its output, so a failure deep inside ``lab up`` reads as one clear message.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from kboot.errors import LabError, tail

log = logging.getLogger(__name__)

# tool → the Debian package that provides it
TOOL_PACKAGES: Mapping[str, str] = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "ip": "iproute2",
    "iptables": "iptables",
    "nsenter": "util-linux",
    "ssh-keygen": "openssh-client",
    "ssh": "openssh-client",
    "mount": "mount",
    "umount": "mount",
}


# Kernel limits every lab machine shares with the host: all nodes run as the host's root, so one
# per-user inotify budget serves every node's systemd, journald, containerd and kubelet. The
# kernel default of 128 inotify instances runs out at about a dozen nodes, and then containerd
# fails to load its CRI plugin ("failed to create fsnotify watcher: too many open files") and
# every kubelet on that node crash-loops. The values are kind's multi-node recommendation.
HOST_SYSCTL_MINIMUMS: Mapping[str, int] = {
    "fs/inotify/max_user_instances": 8192,
    "fs/inotify/max_user_watches": 524288,
}


def sysctls_to_raise(current: Mapping[str, int],
                     minimums: Mapping[str, int] = HOST_SYSCTL_MINIMUMS) -> dict[str, int]:
    """The limits below their minimum, with the value to raise each to (never lowers one)."""
    return {key: low for key, low in minimums.items() if current.get(key, 0) < low}


def ensure_host_sysctls(proc_sys: Path = Path("/proc/sys")) -> dict[str, int]:
    """Raise the host's shared kernel limits that lab nodes need (see HOST_SYSCTL_MINIMUMS);
    returns what was raised. Limits that cannot be read are left alone."""
    current: dict[str, int] = {}
    for key in HOST_SYSCTL_MINIMUMS:
        try:
            current[key] = int((proc_sys / key).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            current[key] = HOST_SYSCTL_MINIMUMS[key]  # unknown: do not touch
    raised = sysctls_to_raise(current)
    for key, value in raised.items():
        (proc_sys / key).write_text(f"{value}\n")
        log.info("raised %s from %d to %d for lab nodes", key.replace("/", "."),
                 current[key], value)
    return raised


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("kboot lab needs root (network namespaces, mounts, systemd-nspawn)")


def require_tools(tools: Iterable[str] = tuple(TOOL_PACKAGES)) -> None:
    """Raise naming the Debian packages to install when any of ``tools`` is missing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        packages = sorted({TOOL_PACKAGES.get(t, t) for t in missing})
        raise LabError(
            f"missing tools: {', '.join(missing)}; install them with: "
            f"apt-get install {' '.join(packages)}"
        )


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    input: bytes | None = None,
    timeout: float | None = 120,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` (no shell); raise :class:`LabError` on failure when ``check``."""
    log.debug("lab: %s", shlex.join(argv))
    full_env = {**os.environ, **env} if env else None
    try:
        proc = subprocess.run(
            list(argv), input=input, capture_output=True, timeout=timeout, env=full_env,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError:
        require_tools([argv[0]])
        raise
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"command timed out after {timeout}s: {shlex.join(argv)}") from exc
    if check and proc.returncode != 0:
        out = tail((proc.stderr or proc.stdout).decode(errors="replace"))
        raise LabError(
            f"command failed (exit {proc.returncode}): {shlex.join(argv)}"
            + (f"\n  {out}" if out else "")
        )
    return proc


def output(argv: Sequence[str], *, timeout: float | None = 120) -> str:
    """The stdout of a successful command, decoded."""
    return run(argv, timeout=timeout).stdout.decode(errors="replace")


def write_file(path: Path, content: str | bytes, *, mode: int = 0o644) -> None:
    """Write a file (creating parents) with an exact mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    if path.is_symlink():
        path.unlink()
    path.write_bytes(data)
    path.chmod(mode)
