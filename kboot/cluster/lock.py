"""The cluster-wide run lock: two ``kboot up`` (or day-2) runs never interleave.

The lock is a file on the first control plane (``/var/lib/kboot/run.lock``), created with the
shell's noclobber (``O_EXCL``): of two runs racing, exactly one creates it. It holds its owner
(user@host, pid, command, a random token) as JSON; the file's mtime is when it was taken, read
on the host so the age does not depend on the workstation's clock. A second run fails fast
with who holds it and since when. Releasing removes the file only if it still holds our token
(a ``--force-unlock`` by someone else must not be undone by the run it evicted).

One round trip to take it, one to release it. A run killed with SIGKILL or a workstation that
died leaves the lock behind: ``--force-unlock`` clears it.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import secrets
import shlex
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

from kboot.cluster.exec import HostOutput, run_on_hosts
from kboot.cluster.topology import Topology
from kboot.errors import ClusterError
from kboot.inventory import Inventory
from kboot.playbook.state import TransportFactory

log = logging.getLogger(__name__)

LOCK_DIR = "/var/lib/kboot"
LOCK_FILE = f"{LOCK_DIR}/run.lock"
MARK = "KBOOT-LOCK "


class LockHeld(ClusterError):
    """Another run holds the cluster's lock."""


class LockHostUnreachable(ClusterError):
    """The host that keeps the lock cannot be reached."""


@dataclass(frozen=True)
class LockOwner:
    user: str
    host: str
    pid: int
    command: str
    token: str = ""
    age_seconds: int | None = None

    def describe(self) -> str:
        age = "" if self.age_seconds is None else f" since {_age(self.age_seconds)} ago"
        return f"{self.user}@{self.host} (pid {self.pid}, `{self.command}`){age}"


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def me(command: str) -> LockOwner:
    return LockOwner(getpass.getuser(), socket.gethostname(), os.getpid(), command,
                     secrets.token_hex(8))


def acquire_command(owner: LockOwner, *, force: bool, path: str = LOCK_FILE) -> str:
    """The shell line that takes the lock (after removing any with ``force``) and reports
    ``acquired``, or ``held`` followed by the holder's JSON and the lock's age."""
    doc = json.dumps({"user": owner.user, "host": owner.host, "pid": owner.pid,
                      "command": owner.command, "token": owner.token,
                      "since": int(time.time())})
    p = shlex.quote(path)
    clear = f"rm -f {p}; " if force else ""
    return (f"mkdir -p {shlex.quote(os.path.dirname(path))} && {clear}"
            f"if ( set -C; printf '%s\\n' {shlex.quote(doc)} > {p} ) 2>/dev/null; "
            f"then echo '{MARK}acquired'; else echo '{MARK}held'; cat {p}; "
            f"echo \"{MARK}age $(( $(date +%s) - $(stat -c %Y {p}) ))\"; fi")


def release_command(owner: LockOwner, path: str = LOCK_FILE) -> str:
    p = shlex.quote(path)
    return f"grep -qF {shlex.quote(owner.token)} {p} 2>/dev/null && rm -f {p}; exit 0"


def parse_holder(stdout: str) -> LockOwner | None:
    """The holder reported by :func:`acquire_command`, or None when we acquired it."""
    if f"{MARK}acquired" in stdout:
        return None
    doc: dict[str, object] = {}
    age: int | None = None
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                doc = json.loads(line)
        elif line.startswith(f"{MARK}age "):
            with contextlib.suppress(ValueError):
                age = int(line.split()[-1])
    return LockOwner(str(doc.get("user", "?")), str(doc.get("host", "?")),
                     int(str(doc.get("pid", 0)) or 0), str(doc.get("command", "?")),
                     str(doc.get("token", "")), age)


def _holder_host(topo: Topology) -> str:
    return topo.control_planes[0].name


def _run(inventory: Inventory, host: str, command: str,
         transports_factory: TransportFactory | None) -> HostOutput:
    return run_on_hosts(inventory, {host: command}, become=True,
                        transports_factory=transports_factory)[host]


def dead_here(holder: LockOwner, me: LockOwner) -> bool:
    """The holder ran on this workstation (same user and host name) and its process is gone:
    a run that was killed (SIGKILL, a power cut) and never released the lock."""
    if (holder.user, holder.host) != (me.user, me.host) or holder.pid <= 0:
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


def acquire(inventory: Inventory, topo: Topology, owner: LockOwner, *, force: bool = False,
            transports_factory: TransportFactory | None = None) -> None:
    host = _holder_host(topo)
    out = _run(inventory, host, acquire_command(owner, force=force), transports_factory)
    if out.status == "unreachable":
        raise LockHostUnreachable(f"cannot take the cluster's run lock: {host} is unreachable "
                                  f"({out.message.strip()[:300]})")
    if not out.ok or MARK not in out.stdout:
        raise ClusterError(f"cannot take the cluster's run lock {host}:{LOCK_FILE}: "
                           f"{out.status}: {(out.stderr or out.message).strip()[:400]}")
    holder = parse_holder(out.stdout)
    if holder is not None and not force and dead_here(holder, owner):
        log.warning("cluster %s: taking over the run lock of %s, which is no longer running on "
                    "this workstation", topo.name, holder.describe())
        acquire(inventory, topo, owner, force=True, transports_factory=transports_factory)
        return
    if holder is not None:
        raise LockHeld(f"cluster {topo.name} is locked by {holder.describe()} "
                       f"({host}:{LOCK_FILE}); wait for that run to finish, or pass "
                       "--force-unlock if it is dead")


def release(inventory: Inventory, topo: Topology, owner: LockOwner, *,
            transports_factory: TransportFactory | None = None) -> None:
    _run(inventory, _holder_host(topo), release_command(owner), transports_factory)


@contextlib.contextmanager
def cluster_lock(inventory: Inventory, topo: Topology, command: str, *, force: bool = False,
                 transports_factory: TransportFactory | None = None,
                 unreachable_ok: bool = False) -> Iterator[LockOwner]:
    """Hold the run lock for the ``with`` body; released even when the body fails.
    ``unreachable_ok``: a lock host that cannot be reached is warned about and the body runs
    unlocked (``kboot reset`` of a cluster whose first control plane is dead)."""
    owner = me(command)
    try:
        acquire(inventory, topo, owner, force=force, transports_factory=transports_factory)
    except LockHostUnreachable as err:
        if not unreachable_ok:
            raise
        log.warning("%s; going on without the lock", err)
        yield owner
        return
    try:
        yield owner
    finally:
        release(inventory, topo, owner, transports_factory=transports_factory)
