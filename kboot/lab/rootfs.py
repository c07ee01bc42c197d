"""Each node's root filesystem: an overlay over the cached image, personalised before boot.

The node's identity is written into its overlay's upper layer from the host, before systemd
starts: hostname, ``/etc/hosts`` naming every lab node, a machine-id, its own SSH host key (so
the lab can write ``known_hosts`` and the inventory can use ``host_key_policy: strict``), the
lab key in root's ``authorized_keys``, and the cgroup unit that lets containerd run inside.
Identity files are only created when missing, so a restarted node keeps its identity.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kboot.lab.spec import LabSpec, NodeSpec
from kboot.lab.system import run, write_file

log = logging.getLogger(__name__)

CGROUP_UNIT_NAME = "kboot-lab-cgroups.service"
CGROUP_SCRIPT_PATH = "/usr/local/sbin/kboot-lab-cgroups"
# Inside an nspawn node the cgroup v1 controllers are mounted read-only; containerd and runc need
# them writable. A fresh mount of each controller (rooted at the node's own cgroup namespace,
# which the lab gives a per-node parent) is writable.
CGROUP_SCRIPT = """\
#!/bin/sh
# kboot lab: remount the cgroup v1 controllers read-write so containerd/runc can use them.
set -e
for dir in /sys/fs/cgroup/*; do
    name=${dir##*/}
    case "$name" in systemd|unified) continue ;; esac
    [ -L "$dir" ] && continue
    mountpoint -q "$dir" || continue
    umount -l "$dir"
    mount -t cgroup -o "$name" cgroup "$dir"
done
"""
CGROUP_UNIT = f"""\
[Unit]
Description=kboot lab: writable cgroup v1 controllers for containerd
DefaultDependencies=no
After=local-fs.target
Before=containerd.service kubelet.service kboot-kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={CGROUP_SCRIPT_PATH}

[Install]
WantedBy=multi-user.target containerd.service
"""
RESOLV_CONF = "# kboot lab: nodes have no route to any name server\n"
# Modules kboot's playbooks load, and where the host shows they are compiled in.
EVIDENCE = {"br_netfilter": "/proc/sys/net/bridge", "nf_conntrack": "/proc/sys/net/netfilter",
            "ip_tables": "/proc/net/ip_tables_names", "veth": "/sys/class/net"}


@dataclass(frozen=True)
class NodePaths:
    """Where one node lives on the host, under ``<state dir>/nodes/<node>/``."""

    base: Path

    @property
    def upper(self) -> Path:
        return self.base / "upper"

    @property
    def work(self) -> Path:
        return self.base / "work"

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def containerd(self) -> Path:
        """Bind-mounted at the node's /var/lib/containerd: not overlayfs, so the overlayfs
        snapshotter works inside."""
        return self.base / "containerd"

    @property
    def console_log(self) -> Path:
        return self.base / "console.log"


def mounted_paths(mountinfo: str) -> list[str]:
    """Mount points listed in ``/proc/self/mountinfo`` text (octal escapes decoded)."""
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4:
            points.append(fields[4].encode().decode("unicode_escape"))
    return points


def is_mounted(path: Path) -> bool:
    return str(path) in mounted_paths(Path("/proc/self/mountinfo").read_text())


def mount_overlay(image: Path, paths: NodePaths) -> None:
    for d in (paths.upper, paths.work, paths.root, paths.containerd):
        d.mkdir(parents=True, exist_ok=True)
    if is_mounted(paths.root):
        return
    opts = f"lowerdir={image},upperdir={paths.upper},workdir={paths.work}"
    run(["mount", "-t", "overlay", "overlay", "-o", opts, str(paths.root)])


def unmount(path: Path) -> None:
    """Unmount ``path`` and anything mounted below it (deepest first), lazily if busy."""
    points = [p for p in mounted_paths(Path("/proc/self/mountinfo").read_text())
              if p == str(path) or p.startswith(f"{path}/")]
    for point in sorted(set(points), key=len, reverse=True):
        if run(["umount", point], check=False).returncode != 0:
            run(["umount", "-l", point], check=False)


def hosts_file(nodes: Sequence[NodeSpec]) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", ""]
    lines += [f"{n.address}\t{n.name}" for n in nodes]
    return "\n".join(lines) + "\n"


def personalise(root: Path, node: NodeSpec, spec: LabSpec, *, lab_public_key: str) -> str:
    """Write the node's identity into its root; return its SSH host public key line."""
    write_file(root / "etc/hostname", node.name + "\n")
    write_file(root / "etc/hosts", hosts_file(spec.nodes))
    write_file(root / "etc/resolv.conf", RESOLV_CONF)
    machine_id = root / "etc/machine-id"
    if not machine_id.read_text().strip():
        write_file(machine_id, uuid.uuid4().hex + "\n", mode=0o444)
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_file(ssh_dir / "authorized_keys", lab_public_key.strip() + "\n", mode=0o600)
    write_file(root / CGROUP_SCRIPT_PATH.lstrip("/"), CGROUP_SCRIPT, mode=0o755)
    unit = root / "etc/systemd/system" / CGROUP_UNIT_NAME
    write_file(unit, CGROUP_UNIT)
    for wants in ("multi-user.target.wants", "containerd.service.wants"):
        link = root / "etc/systemd/system" / wants / CGROUP_UNIT_NAME
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(f"/etc/systemd/system/{CGROUP_UNIT_NAME}")
    if host_modules_dir() is None:
        install_module_index(root)
    return _host_key(root, node)


def host_modules_dir() -> Path | None:
    """The host's ``/lib/modules/<kernel>`` (bind-mounted read-only into nodes), if any."""
    path = Path("/lib/modules", os.uname().release)
    return path if path.is_dir() else None


def builtin_modules(sys_modules: list[str], filesystems: str,
                    evidence: dict[str, bool]) -> list[str]:
    """Modules to declare built in: those the kernel lists in /sys/module, ``overlay`` when it
    is a known filesystem, and kboot's usual ones whose features are present."""
    names = set(sys_modules)
    if "overlay" in filesystems.split():
        names.add("overlay")
    names.update(m for m, present in evidence.items() if present)
    return sorted(names)


def install_module_index(root: Path) -> None:
    """On a host without /lib/modules (a kernel with everything built in), give the node a
    module index declaring the built-in modules, so ``modprobe br_netfilter overlay`` succeeds
    inside it as it would on a VM."""
    release = os.uname().release
    index = root / "lib/modules" / release
    if (index / "modules.builtin.bin").exists():
        return
    names = builtin_modules(
        sorted(p.name for p in Path("/sys/module").iterdir()),
        Path("/proc/filesystems").read_text(),
        {m: Path(p).exists() for m, p in EVIDENCE.items()},
    )
    write_file(index / "modules.builtin", "".join(f"kernel/{n}.ko\n" for n in names))
    write_file(index / "modules.order", "")
    run(["chroot", str(root), "depmod", release])


def _host_key(root: Path, node: NodeSpec) -> str:
    key = root / "etc/ssh/ssh_host_ed25519_key"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{node.name}",
             "-f", str(key)])
    pub = key.with_name(key.name + ".pub").read_text().split()
    return f"{pub[0]} {pub[1]}"
