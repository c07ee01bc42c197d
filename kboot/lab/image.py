"""The lab's base images: Debian 12 root filesystems built once with debootstrap and cached.

``plain`` is what a fresh VM looks like to kboot (sshd, systemd, python3, sudo, iptables …) and
no cluster packages, so that kboot's own install path is exercised. ``provisioned`` adds the
cluster packages for faster iteration. Each image lives in ``/var/cache/kboot/lab/images/``
under a name that includes a hash of its recipe, is built into a temporary directory and renamed
into place when complete, under a file lock: a half-built image is never used, and two
concurrent ``lab up`` runs build it once. Nodes mount it read-only as their overlay's lower dir.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from kboot.errors import LabError
from kboot.lab.system import require_tools, run, write_file

log = logging.getLogger(__name__)

ImageKind = Literal["plain", "provisioned"]
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PLAIN_PACKAGES = (
    "openssh-server", "systemd", "systemd-sysv", "dbus", "iproute2", "python3",
    "sudo", "ca-certificates", "kmod", "iptables", "procps",
)
PROVISIONED_PACKAGES = (
    "etcd-server", "etcd-client", "containerd", "runc", "containernetworking-plugins",
    "haproxy", "conntrack", "socat",
)
# Installed but not enabled: kboot configures and starts them (its own etcd unit, for one).
PROVISIONED_DISABLED = ("etcd.service", "haproxy.service", "containerd.service")
SSHD_DROPIN = """\
# kboot lab: one host key per node, generated before first boot and recorded in known_hosts.
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
UseDNS no
"""
_DEB822_RE = re.compile(r"^(URIs|Suites):[ \t]*(.*)$", re.M)
_ONE_LINE_RE = re.compile(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)", re.M)


def mirror_from_sources(texts: Iterable[str], suite: str = SUITE) -> str | None:
    """The first mirror URI serving ``suite`` in apt source files (one-line or deb822 format)."""
    for text in texts:
        for block in re.split(r"\n\s*\n", text):
            fields = dict(_DEB822_RE.findall(block))
            if suite in fields.get("Suites", "").split():
                return fields.get("URIs", "").split()[0].rstrip("/") if fields.get("URIs") else None
            for m in _ONE_LINE_RE.finditer(block):
                if m["suite"] == suite:
                    return m["uri"].rstrip("/")
    return None


def host_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt uses (falling back to deb.debian.org)."""
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    texts = [f.read_text(errors="replace") for f in files if f.is_file()]
    return mirror_from_sources(texts) or DEFAULT_MIRROR


def recipe_key(kind: ImageKind) -> str:
    packages = PLAIN_PACKAGES + (
        PROVISIONED_PACKAGES + PROVISIONED_DISABLED if kind == "provisioned" else ())
    recipe = "\n".join([SUITE, *packages, SSHD_DROPIN])
    return hashlib.sha256(recipe.encode()).hexdigest()[:10]


def image_dir(cache_root: Path, kind: ImageKind) -> Path:
    return cache_root / "images" / f"debian12-{kind}-{recipe_key(kind)}"


def ensure_image(cache_root: Path, kind: ImageKind = "plain") -> Path:
    """The root filesystem of image ``kind``, building (and caching) it on first use."""
    target = image_dir(cache_root, kind)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_locked(cache_root, kind)


def _ensure_locked(cache_root: Path, kind: ImageKind) -> Path:
    target = image_dir(cache_root, kind)
    if target.is_dir():  # built by another process while we waited for the lock
        return target
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if kind == "plain":
        _build_plain(tmp)
    else:
        _build_provisioned(_ensure_locked(cache_root, "plain"), tmp)
    tmp.rename(target)
    log.info("lab image %s ready at %s", kind, target)
    return target


def _build_plain(root: Path) -> None:
    require_tools(["debootstrap"])
    mirror = host_mirror()
    log.info("building the lab's Debian %s image with debootstrap from %s", SUITE, mirror)
    run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(PLAIN_PACKAGES)}",
         SUITE, str(root), mirror],
        timeout=1200,
    )
    _generalise(root)


def _generalise(root: Path) -> None:
    """Remove per-machine identity so that every node gets its own (keys, machine-id)."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    write_file(root / "etc/ssh/sshd_config.d/kboot-lab.conf", SSHD_DROPIN)
    write_file(root / "etc/machine-id", "")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()


def _build_provisioned(plain: Path, root: Path) -> None:
    log.info("building the provisioned lab image (cluster packages preinstalled)")
    run(["cp", "-a", "--reflink=auto", str(plain), str(root)], timeout=600)
    shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
    write_file(root / "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", mode=0o755)
    try:
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        run(["chroot", str(root), "apt-get", "update", "-q"], env=env, timeout=600)
        run(
            ["chroot", str(root), "apt-get", "install", "-y", "-q", "--no-install-recommends",
             *PROVISIONED_PACKAGES],
            env=env, timeout=1200,
        )
    except LabError:
        shutil.rmtree(root, ignore_errors=True)
        raise
    run(["chroot", str(root), "systemctl", "disable", *PROVISIONED_DISABLED])
    (root / "usr/sbin/policy-rc.d").unlink()
    (root / "etc/resolv.conf").unlink()
    run(["chroot", str(root), "apt-get", "clean"])
    _generalise(root)
