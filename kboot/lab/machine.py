"""A node's processes: its per-node cgroups, the detached ``systemd-nspawn`` that boots it,
its container init (PID 1 inside, found from the host), and stopping or killing it.

Each node gets its own cgroup in every hierarchy this process belongs to, and nspawn is exec'ed
from inside it: otherwise every node starts at the same cgroup root and their systemd units and
pods share one tree. Processes are found again by their ``--machine=`` argument and by cgroup
membership, so a crashed earlier run can still be cleaned up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kboot.errors import LabError
from kboot.lab.spec import CGROUP_PREFIX, NodeSpec

log = logging.getLogger(__name__)

NSPAWN_ENV = {"SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "0", "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "1"}
ENTER_NAMESPACES = ("--mount", "--uts", "--ipc", "--net", "--pid")
CONTROLLERS = frozenset({
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "net_cls",
    "net_prio", "perf_event", "hugetlb", "rdma", "misc",
})
_LAUNCHER = 'for f in $KBOOT_CGROUP_PROCS; do echo $$ > "$f"; done; exec "$@"'


@dataclass(frozen=True)
class Proc:
    """A process identity that survives pid reuse: pid plus its start time (clock ticks)."""

    pid: int
    start: int


def nspawn_argv(node: NodeSpec, root: Path, containerd_dir: Path,
                modules_dir: Path | None = None) -> list[str]:
    modules = [f"--bind-ro={modules_dir}"] if modules_dir else []
    return [
        "systemd-nspawn", "--quiet", "-D", str(root),
        f"--machine={node.name}", "--register=no", "--keep-unit",
        f"--network-namespace-path=/run/netns/{node.netns}",
        "--capability=all", "--system-call-filter=@keyring bpf",
        f"--bind={containerd_dir}:/var/lib/containerd",
        *modules,
        "--resolv-conf=off", "--link-journal=no", "--timezone=off", "--console=read-only",
        "--boot",
    ]


# --- cgroups --------------------------------------------------------------------------------

def cgroup_dirs(proc_cgroup: str, mountinfo: str, leaf: str) -> list[Path]:
    """Per-node cgroup directories: ``leaf`` under this process's cgroup in each mounted
    hierarchy (``/proc/self/cgroup`` + ``/proc/self/mountinfo`` text in, paths out)."""
    mounts: dict[frozenset[str], tuple[str, str]] = {}
    for line in mountinfo.splitlines():
        pre, _, post = line.partition(" - ")
        fields, fs = pre.split(), post.split()
        if len(fs) < 3 or fs[0] not in ("cgroup", "cgroup2"):
            continue
        opts = fs[2].split(",")
        key = frozenset(["cgroup2"] if fs[0] == "cgroup2" else
                        [o for o in opts if o in CONTROLLERS or o.startswith("name=")])
        mounts.setdefault(key, (fields[4], fields[3]))
    dirs = []
    for line in proc_cgroup.splitlines():
        hid, controllers, path = line.split(":", 2)
        key = frozenset({"cgroup2"}) if hid == "0" else frozenset(controllers.split(","))
        if key not in mounts:
            continue
        point, mount_root = mounts[key]
        rel = path[len(mount_root):] if path.startswith(mount_root) else path
        dirs.append(Path(point, rel.strip("/"), leaf))
    return dirs


def node_cgroup_dirs(node_name: str) -> list[Path]:
    """The per-node cgroups of ``node_name`` as seen from this process."""
    return cgroup_dirs(Path("/proc/self/cgroup").read_text(),
                       Path("/proc/self/mountinfo").read_text(), f"{CGROUP_PREFIX}{node_name}")


def make_cgroups(dirs: Sequence[Path]) -> list[Path]:
    """Create the per-node cgroups; return the ``cgroup.procs`` files to join."""
    procs = []
    for d in dirs:
        try:
            d.mkdir(exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if (d / name).exists() and not (d / name).read_text().strip():
                    (d / name).write_text((d.parent / name).read_text())
            procs.append(d / "cgroup.procs")
        except OSError as exc:
            log.debug("cgroup %s unusable: %s", d, exc)
    return procs


def _cgroup_tree(root: Path) -> list[Path]:
    """``root`` and every cgroup under it, deepest first. ``os.walk`` skips a directory that
    vanishes mid-walk (a cgroup removed while the node stops); ``Path.glob`` raised
    FileNotFoundError there and broke a lab teardown."""
    return [Path(top) for top, _dirs, _files in os.walk(root, topdown=False)]


def cgroup_pids(dirs: Sequence[Path]) -> set[int]:
    """Every process in the node's cgroups, nested ones included."""
    pids: set[int] = set()
    for d in dirs:
        for cgroup in _cgroup_tree(d):
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(p) for p in (cgroup / "cgroup.procs").read_text().split())
    return pids


def remove_cgroups(dirs: Sequence[Path]) -> None:
    for d in dirs:
        for cgroup in _cgroup_tree(d):
            with contextlib.suppress(OSError):
                cgroup.rmdir()


# --- processes ------------------------------------------------------------------------------

def proc_start(pid: int) -> int | None:
    """Start time of ``pid`` or None if it is gone (or a zombie, which is reaped if ours)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


def alive(proc: Proc | None) -> bool:
    return proc is not None and proc_start(proc.pid) == proc.start


def launch(node: NodeSpec, argv: Sequence[str], *, procs_files: Sequence[Path],
           log_path: Path) -> Proc:
    """Start nspawn detached (own session, stdin /dev/null, output to ``log_path``)."""
    env = {**os.environ, **NSPAWN_ENV, "KBOOT_CGROUP_PROCS": " ".join(map(str, procs_files))}
    with log_path.open("ab") as out:
        child = subprocess.Popen(
            ["/bin/sh", "-c", _LAUNCHER, "kboot-lab-launch", *argv],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, env=env,
        )
    start = proc_start(child.pid)
    if start is None:
        raise LabError(f"{node.name}: systemd-nspawn exited at once; see {log_path}")
    return Proc(child.pid, start)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def leader(nspawn: Proc) -> int | None:
    """The host pid of the node's PID 1 (a child of nspawn that is pid 1 in its namespace)."""
    if not alive(nspawn):
        return None
    for pid in _children(nspawn.pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                words = line.split()
                if words[:1] == ["NSpid:"] and len(words) > 2 and words[-1] == "1":
                    return pid
    return None


def enter_argv(leader_pid: int, cmd: Sequence[str]) -> list[str]:
    """Run ``cmd`` inside the node (all its namespaces) without SSH."""
    return ["nsenter", f"--target={leader_pid}", *ENTER_NAMESPACES, "--", *cmd]


def machine_processes(machine_prefix: str) -> list[int]:
    """Pids of nspawn processes whose ``--machine=`` starts with ``machine_prefix``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            args = cmdline.read_bytes().split(b"\0")
            if any(a.startswith(f"--machine={machine_prefix}".encode()) for a in args) and any(
                    a.endswith(b"systemd-nspawn") for a in args):
                found.append(int(cmdline.parent.name))
    return found


def wait_gone(pids: Sequence[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(proc_start(p) is not None for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def kill_all(pids: Sequence[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
