"""Helpers for the lab tests: SSH with strict host keys, reachability probes, .deb fetching."""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko

from kboot.lab import Lab

DEB_CACHE = Path("/var/cache/kboot/lab/debs")
PROBE = ("import socket,sys\n"
         "try:\n socket.create_connection((sys.argv[1], 22), timeout=2); print('open')\n"
         "except OSError as e:\n print('blocked', type(e).__name__)\n")


def ssh(lab: Lab, node: str, command: str, *, timeout: float = 30) -> tuple[int, str]:
    """Run ``command`` on ``node`` over SSH as the inventory says: root, lab key, strict keys."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(lab.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(lab.node(node).address, username="root", key_filename=str(lab.key_file),
                       timeout=10, allow_agent=False, look_for_keys=False)
        _, stdout, _ = client.exec_command(command, timeout=timeout)
        out = stdout.read().decode()
        return stdout.channel.recv_exit_status(), out
    finally:
        client.close()


def can_reach(lab: Lab, src: str, dst: str) -> bool:
    """Whether ``src`` can open a TCP connection to ``dst``'s sshd (probed inside ``src``)."""
    res = lab.exec(src, ["python3", "-c", PROBE, lab.node(dst).address], timeout=30, check=True)
    return res.stdout.strip() == "open"


def debs_for(packages: list[str], installed: set[str]) -> list[Path]:
    """.deb files of ``packages`` and their dependencies missing from ``installed`` (cached)."""
    deps = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
         "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *packages],
        capture_output=True, text=True, check=True).stdout
    wanted = sorted({line.strip() for line in deps.splitlines()
                     if line and not line.startswith(" ") and not line.startswith("<")}
                    - installed)
    DEB_CACHE.mkdir(parents=True, exist_ok=True)
    missing = [p for p in wanted if not list(DEB_CACHE.glob(f"{p}_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", "-q", *missing], cwd=DEB_CACHE,
                       capture_output=True, check=True)
    return [next(DEB_CACHE.glob(f"{p}_*.deb")) for p in wanted]
