"""Images made from Debian's static busybox: a general-purpose one and the CRI pause image.

A static busybox needs no libraries, so one binary plus its applet symlinks (``sh``, ``httpd``,
``nc``, ``sleep``, ``wget``, ``nslookup``…) is a usable root filesystem of about 2 MB. The pause
("sandbox") image runs busybox's shell in a signal-trapping sleep loop: it holds the pod's
namespaces, exits on SIGTERM/SIGINT and reaps nothing else (pods do not share a PID namespace by
default).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from kboot.images.oci import BuiltImage, Entry, ImageConfig, layer_tar, write_image

BUSYBOX = Path("/bin/busybox")
PAUSE_NAME = "kboot.io/pause:3.9"
BUSYBOX_NAME = "kboot.io/busybox:1.35"
PAUSE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"

_BASE_FILES = (
    Entry("etc/passwd",
          data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"),
    Entry("etc/group", data=b"root:x:0:\nnogroup:x:65534:\n"),
    Entry("etc/hosts", data=b"127.0.0.1 localhost\n"),
    Entry("etc/resolv.conf", data=b""),
    Entry("etc/hostname", data=b""),
)
_BASE_DIRS = ("root", "tmp", "proc", "sys", "dev", "var/tmp", "var/www", "run", "home")


class BusyboxMissing(RuntimeError):
    """The host has no static busybox to build from (install ``busybox-static``)."""


def applets(busybox: Path = BUSYBOX) -> list[str]:
    """Paths (``bin/sh``, ``usr/bin/wget``…) of the applets the binary provides."""
    try:
        out = subprocess.run(
            [str(busybox), "--list-full"], check=True, capture_output=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BusyboxMissing(f"cannot run {busybox} --list-full: {exc}") from exc
    return sorted({line.strip() for line in out.splitlines() if line.strip()})


def busybox_entries(busybox: Path = BUSYBOX) -> list[Entry]:
    """A root filesystem: ``/bin/busybox``, applet symlinks, a minimal ``/etc`` and base dirs."""
    if not busybox.is_file():
        raise BusyboxMissing(f"{busybox} not found (install busybox-static)")
    entries = [Entry("bin/busybox", data=busybox.read_bytes(), mode=0o755), *_BASE_FILES]
    entries += [Entry(d, kind="dir", mode=0o755) for d in _BASE_DIRS]
    entries = [e if e.path != "tmp" else Entry("tmp", kind="dir", mode=0o1777) for e in entries]
    for path in applets(busybox):
        if path != "bin/busybox":
            entries.append(Entry(path, kind="symlink", target="/bin/busybox", mode=0o777))
    return entries


def build_busybox(out: Path, *, name: str = BUSYBOX_NAME, config: ImageConfig | None = None,
                  busybox: Path = BUSYBOX) -> BuiltImage:
    """Write the busybox image (default command ``sh``) to *out*."""
    cfg = config or ImageConfig(cmd=("sh",))
    return write_image(out, name=name, layers=[layer_tar(busybox_entries(busybox))], config=cfg)


def build_pause(out: Path, *, name: str = PAUSE_NAME, busybox: Path = BUSYBOX) -> BuiltImage:
    """Write the CRI sandbox image to *out* (name it in containerd's ``sandbox_image``)."""
    cfg = ImageConfig(entrypoint=("/bin/sh", "-c", PAUSE_SCRIPT))
    return write_image(out, name=name, layers=[layer_tar(busybox_entries(busybox))], config=cfg)
