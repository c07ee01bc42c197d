"""Service-level facts: installed Debian packages, systemd unit state, listening ports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kboot.facts.base import Fact, quote


def parse_packages(output: str) -> dict[str, str]:
    """``dpkg-query`` lines ``name<TAB>version<TAB>status`` → installed packages and versions."""
    installed: dict[str, str] = {}
    for line in output.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].strip() == "installed":
            installed[parts[0].split(":")[0]] = parts[1]
    return installed


def deb_packages(names: Sequence[str]) -> Fact[dict[str, str]]:
    """Which of ``names`` are installed, with their versions (absent names are missing)."""
    ordered = sorted(set(names))
    args = " ".join(quote(n) for n in ordered)
    command = f"dpkg-query -W -f='${{Package}}\\t${{Version}}\\t${{db:Status-Status}}\\n' {args}"
    return Fact(f"deb:{','.join(ordered)}", command, parse_packages)


def parse_deb_file(output: str) -> tuple[str, str] | None:
    fields = dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)
    if "Package" not in fields:
        return None
    return fields["Package"], fields.get("Version", "")


def deb_file(path: str) -> Fact[tuple[str, str] | None]:
    """Package name and version inside a ``.deb`` file on the host (``None`` if unreadable)."""
    return Fact(f"debfile:{path}", f"dpkg-deb -f {quote(path)} Package Version", parse_deb_file,
                path=path)


_UNIT_DIRS = ("/etc/systemd", "/lib/systemd", "/usr/lib/systemd", "/run/systemd")


@dataclass(frozen=True)
class UnitState:
    """A systemd unit as ``systemctl show`` reports it."""

    load_state: str  # loaded, not-found, masked
    active_state: str  # active, inactive, failed, activating …
    unit_file_state: str  # enabled, disabled, static, masked, "" …
    need_daemon_reload: bool = False

    @property
    def exists(self) -> bool:
        return self.load_state not in ("not-found", "")

    @property
    def active(self) -> bool:
        return self.active_state in ("active", "activating", "reloading")

    @property
    def enabled(self) -> bool:
        return self.unit_file_state in ("enabled", "enabled-runtime", "alias", "static",
                                        "indirect", "generated")


def parse_unit(output: str) -> UnitState:
    props = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    return UnitState(props.get("LoadState", ""), props.get("ActiveState", ""),
                     props.get("UnitFileState", ""), props.get("NeedDaemonReload") == "yes")


def systemd_unit(name: str) -> Fact[UnitState]:
    """Load, active and unit-file state of one unit (``.service`` is implied when no suffix).
    Any change under systemd's unit directories makes it stale."""
    unit = name if "." in name else f"{name}.service"
    props = "LoadState,ActiveState,UnitFileState,NeedDaemonReload"
    command = f"systemctl show -p {props} -- {quote(unit)}"
    return Fact(f"unit:{unit}", command, parse_unit, depends=_UNIT_DIRS)


@dataclass(frozen=True)
class Listener:
    proto: str  # tcp, udp
    address: str
    port: int


def parse_listeners(output: str) -> frozenset[Listener]:
    found: set[Listener] = set()
    for line in output.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        address, _, port = parts[4].rpartition(":")
        if port.isdigit():
            found.add(Listener(parts[0], address.strip("[]"), int(port)))
    return frozenset(found)


def listening_ports() -> Fact[frozenset[Listener]]:
    """TCP and UDP sockets listening on the host (``ss -Hltun``)."""
    return Fact("listening", "ss -Hltun", parse_listeners)
