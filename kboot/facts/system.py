"""Host-wide facts: OS release, architecture, hostname, memory and CPUs, sysctl, kernel modules,
users. ``setup_facts`` are what ``gather_facts: true`` collects (Ansible's ``ansible_facts``)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from kboot.facts.base import Fact, quote

_ABSENT = "ABSENT"


def parse_os_release(output: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for line in output.splitlines():
        if "=" not in line or line.lstrip().startswith("#"):
            continue
        key, _, value = line.partition("=")
        words = shlex.split(value) if value.strip() else [""]
        result[key.strip()] = words[0] if words else ""
    return result


def os_release() -> Fact[dict[str, str]]:
    """``/etc/os-release`` as a dict (``ID``, ``VERSION_ID``, ``VERSION_CODENAME``, …)."""
    return Fact("os_release", "cat /etc/os-release", parse_os_release)


def arch() -> Fact[str]:
    """The machine architecture (``uname -m``: ``x86_64``, ``aarch64``)."""
    return Fact("arch", "uname -m", lambda out: out.strip())


def hostname() -> Fact[dict[str, str]]:
    """Short and fully-qualified host names."""

    def parse(out: str) -> dict[str, str]:
        lines = [*out.splitlines(), "", ""]
        short = lines[0].strip()
        return {"hostname": short.split(".")[0], "fqdn": lines[1].strip() or short}

    return Fact("hostname", "hostname; hostname -f 2>/dev/null || hostname", parse)


@dataclass(frozen=True)
class Resources:
    memtotal_mb: int
    memfree_mb: int
    vcpus: int


def parse_resources(output: str) -> Resources:
    values: dict[str, int] = {}
    vcpus = 1
    for line in output.splitlines():
        if line.startswith("nproc "):
            vcpus = int(line.split()[1])
        elif ":" in line:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                values[key] = int(parts[0])
    return Resources(
        memtotal_mb=values.get("MemTotal", 0) // 1024,
        memfree_mb=values.get("MemAvailable", values.get("MemFree", 0)) // 1024,
        vcpus=vcpus,
    )


def resources() -> Fact[Resources]:
    """Total and available memory (MiB) and online CPUs."""
    return Fact("resources", "cat /proc/meminfo; echo nproc $(nproc)", parse_resources)


def parse_sysctl(output: str) -> str | None:
    text = output.strip()
    return None if text == _ABSENT else " ".join(text.split())


def sysctl(name: str) -> Fact[str | None]:
    """A kernel parameter's current value, whitespace-normalised (``None`` if unknown)."""
    path = "/proc/sys/" + name.replace(".", "/")
    p = quote(path)
    return Fact(f"sysctl:{name}", f"if [ -e {p} ]; then cat {p}; else echo {_ABSENT}; fi",
                parse_sysctl, path=path)


def parse_modules(output: str) -> frozenset[str]:
    return frozenset(line.split()[0] for line in output.splitlines() if line.strip())


def kernel_modules() -> Fact[frozenset[str]]:
    """Loaded kernel modules plus built-in ones that expose ``/sys/module`` (names as modprobe
    takes them, ``-`` spelled ``_``)."""
    return Fact("kernel_modules", "cut -d' ' -f1 /proc/modules; ls -1 /sys/module",
                parse_modules, depends=("/proc/modules",))


@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: int
    gid: int
    home: str
    shell: str
    comment: str
    groups: tuple[str, ...]


def parse_user(output: str) -> UserInfo | None:
    lines = output.splitlines()
    if not lines or lines[0].strip() == _ABSENT:
        return None
    name, _pw, uid, gid, comment, home, shell = lines[0].split(":", 6)
    groups = tuple(lines[1].split()) if len(lines) > 1 else ()
    return UserInfo(name, int(uid), int(gid), home, shell, comment, groups)


def user(name: str) -> Fact[UserInfo | None]:
    """A local user's passwd entry and group names (``None`` if there is no such user)."""
    n = quote(name)
    return Fact(f"user:{name}",
                f"if getent passwd {n}; then id -Gn {n}; else echo {_ABSENT}; fi", parse_user,
                depends=("/etc/passwd", "/etc/group"))


def setup_facts() -> list[Fact[Any]]:
    """What ``gather_facts`` collects; see :func:`ansible_facts` for the resulting mapping."""
    return [os_release(), arch(), hostname(), resources()]


_FAMILIES = {"debian": "Debian", "ubuntu": "Debian", "rhel": "RedHat", "centos": "RedHat",
             "fedora": "RedHat", "rocky": "RedHat", "almalinux": "RedHat", "arch": "Archlinux",
             "alpine": "Alpine", "opensuse-leap": "Suse", "sles": "Suse"}


def ansible_facts(values: dict[str, Any]) -> dict[str, Any]:
    """Shape gathered setup facts as Ansible names them (``ansible_facts.distribution`` …)."""
    release: dict[str, str] = values["os_release"]
    res: Resources = values["resources"]
    names: dict[str, str] = values["hostname"]
    distro_id = release.get("ID", "")
    version = release.get("VERSION_ID", "")
    return {
        "distribution": release.get("NAME", distro_id).split()[0] if release else "",
        "distribution_version": version,
        "distribution_major_version": version.split(".")[0],
        "distribution_release": release.get("VERSION_CODENAME", ""),
        "os_family": _FAMILIES.get(distro_id, distro_id.capitalize()),
        "architecture": values["arch"],
        "hostname": names["hostname"],
        "fqdn": names["fqdn"],
        "nodename": names["hostname"],
        "memtotal_mb": res.memtotal_mb,
        "memfree_mb": res.memfree_mb,
        "processor_vcpus": res.vcpus,
        "processor_nproc": res.vcpus,
        "system": "Linux",
    }
