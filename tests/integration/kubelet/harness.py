"""A private containerd + runc + CNI "node" inside a network namespace, for integration tests.

Layout (n = a small slot number)::

    host netns                     netns kbt-cri-n (the "node")
    kbtcri-n-h 10.250.n.1/24 ----- eth0 10.250.n.2/24
    route 10.251.n.0/24 via .2     cni0 10.251.n.1/24 -- pods (bridge + host-local)
                                   containerd (own root/state/socket under a temp dir)

The host route lets an in-process kubelet (host netns) probe and reach pod IPs, and pods reach
the host end (10.250.n.1) where a test DNS server can listen. Everything carries the ``kbt-cri``
prefix; :func:`cleanup_leftovers` removes what a crashed earlier run left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jinja2

from kboot.images import build_busybox, build_pause, import_command
from tests.waiting import wait_until

PREFIX = "kbt-cri"
SERVICE_CIDR = "10.96.0.0/12"  # the apiserver's default --service-cluster-ip-range
ROOT = Path(__file__).resolve().parents[3]
TMP_BASE = Path(tempfile.gettempdir())


def sh(*cmd: str, check: bool = True, ns: str | None = None) -> subprocess.CompletedProcess[str]:
    full = ["ip", "netns", "exec", ns, *cmd] if ns else list(cmd)
    return subprocess.run(full, check=check, capture_output=True, text=True, timeout=60)


def render(template: str, **values: object) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string((ROOT / "templates" / template).read_text()).render(**values)


@dataclass
class Node:
    slot: int
    netns: str
    workdir: Path
    socket: str
    host_ip: str
    node_ip: str
    pod_cidr: str
    log_dir: Path
    cgroup_root: str
    busybox_image: str = "kboot.io/busybox:1.35"

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("ctr", "--address", self.socket, *args, check=check)


def _pids_matching(text: str) -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if text in cmdline:
                out.append(int(proc.name))
    return out


def _kill_matching(text: str) -> None:
    """SIGKILL the processes whose command line has ``text``; return once they are gone."""
    for pid in _pids_matching(text):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(AssertionError):  # best effort: the caller cleans up regardless
        wait_until(f"processes matching {text} to exit", lambda: not _pids_matching(text),
                   timeout=10, interval=0.05)


def _remove_cgroups(name: str) -> None:
    for ctl in Path("/sys/fs/cgroup").iterdir():
        top = ctl / name
        if not top.is_dir():
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
            for pid in (Path(dirpath) / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


def cleanup_leftovers(slot: int | None = None) -> None:
    """Kill containerd/shims and remove netns, veths, routes, cgroups and dirs of kbt-cri runs."""
    tag = f"{PREFIX}-{slot}-" if slot is not None else f"{PREFIX}-"
    _kill_matching(str(TMP_BASE / tag))  # containerd, shims and runc of that run
    for ns in sh("ip", "netns", "list", check=False).stdout.split("\n"):
        name = ns.split(" ")[0]
        if name.startswith(tag.rstrip("-")) or (slot is None and name.startswith(PREFIX)):
            sh("ip", "netns", "del", name, check=False)
    for line in sh("ip", "-o", "link", "show", check=False).stdout.splitlines():
        dev = line.split(":")[1].strip().split("@")[0]
        if dev.startswith("kbtcri") and (slot is None or dev == f"kbtcri{slot}h"):
            sh("ip", "link", "del", dev, check=False)
    for line in sh("ip", "route", "show", check=False).stdout.splitlines():
        if line.startswith("10.251.") and (slot is None or line.startswith(f"10.251.{slot}.")):
            sh("ip", "route", "del", line.split()[0], check=False)
    for cg in Path("/sys/fs/cgroup/memory").glob(f"{tag}*"):
        _remove_cgroups(cg.name)
    for path in TMP_BASE.glob(f"{tag}*"):
        unmount_under(path)
        shutil.rmtree(path, ignore_errors=True)


def unmount_under(path: Path) -> None:
    """Lazily unmount every mount at or below *path*, deepest first."""
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mnt in sorted((m for m in mounts if m.startswith(str(path))), key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], capture_output=True, check=False)


def _network(node: Node) -> None:
    host_dev, ns = f"kbtcri{node.slot}h", node.netns
    sh("ip", "netns", "add", ns)
    sh("ip", "link", "add", host_dev, "type", "veth", "peer", "name", "eth0", "netns", ns)
    sh("ip", "addr", "add", f"{node.host_ip}/24", "dev", host_dev)
    sh("ip", "link", "set", host_dev, "up")
    sh("ip", "addr", "add", f"{node.node_ip}/24", "dev", "eth0", ns=ns)
    sh("ip", "link", "set", "eth0", "up", ns=ns)
    sh("ip", "link", "set", "lo", "up", ns=ns)
    sh("sysctl", "-w", "net.ipv4.ip_forward=1", ns=ns)
    # Service IPs leave the node towards the host end of the veth, as they would follow a real
    # node's default route, so FORWARD (kboot-proxy's REJECT) sees them; the host never answers
    # ARP for them, so nothing goes further. No default route: pods reach nothing else.
    sh("ip", "route", "add", SERVICE_CIDR, "dev", "eth0", ns=ns)
    sh("ip", "route", "add", node.pod_cidr, "via", node.node_ip)


def _start_containerd(node: Node) -> subprocess.Popen[bytes]:
    cni_conf = node.workdir / "cni"
    cni_conf.mkdir()
    (cni_conf / "10-kboot.conflist").write_text(render(
        "cni/10-kboot.conflist.j2", pod_cidr=node.pod_cidr,
        cni_ipam_dir=str(node.workdir / "ipam")))
    config = node.workdir / "config.toml"
    config.write_text(render(
        "containerd/config.toml.j2", containerd_root=str(node.workdir / "root"),
        containerd_state=str(node.workdir / "state"), containerd_socket=node.socket,
        containerd_snapshotter="overlayfs", cni_conf_dir=str(cni_conf),
        stream_server_address=node.node_ip,
        netns_under_state=True))
    log = open(node.workdir / "containerd.log", "wb")  # noqa: SIM115 - lives with the process
    # nsenter, not `ip netns exec`: the latter remounts /sys and hides the cgroup mounts runc needs.
    proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{node.netns}", "containerd",
                             "--config", str(config)], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        wait_until("containerd to answer", lambda: Path(node.socket).exists()
                   and node.ctr("version", check=False).returncode == 0, timeout=20)
    except AssertionError:
        proc.kill()
        tail = (node.workdir / "containerd.log").read_text()[-2000:]
        raise RuntimeError("containerd did not start: " + tail) from None
    return proc


def import_images(node: Node, images_dir: Path) -> None:
    for tar in (images_dir / "pause.tar", images_dir / "busybox.tar"):
        cmd = import_command(str(tar))
        sh(cmd[0], "--address", node.socket, *cmd[1:])


def build_test_images(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "pause.tar").exists():
        build_pause(out / "pause.tar")
        build_busybox(out / "busybox.tar")
    return out


@contextlib.contextmanager
def containerd_node(slot: int, images_dir: Path) -> Iterator[Node]:
    """A running private containerd node in slot *slot* (1..200); torn down on exit."""
    cleanup_leftovers(slot)
    workdir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-{slot}-"))
    node = Node(slot=slot, netns=f"{PREFIX}-{slot}", workdir=workdir,
                socket=str(workdir / "containerd.sock"), host_ip=f"10.250.{slot}.1",
                node_ip=f"10.250.{slot}.2", pod_cidr=f"10.251.{slot}.0/24",
                log_dir=workdir / "pods", cgroup_root=f"/{PREFIX}-{slot}-{os.getpid()}")
    proc = None
    try:
        _network(node)
        proc = _start_containerd(node)
        import_images(node, images_dir)
        yield node
    finally:
        if proc is not None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            proc.kill()
        _kill_matching(str(workdir))
        _remove_cgroups(node.cgroup_root.lstrip("/"))
        cleanup_leftovers(slot)
