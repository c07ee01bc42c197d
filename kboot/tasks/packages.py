"""Debian package tasks: ``apt`` (alias ``package``), from the configured repositories or from
``.deb`` files already pushed to the host (the offline bundle)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from kboot.facts.base import Fact, quote
from kboot.facts.services import deb_file, deb_packages
from kboot.tasks.base import Command, Plan, TaskContext, task

_APT = "DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confold"


@dataclass(frozen=True)
class AptArgs:
    ALIASES: ClassVar[dict[str, str]] = {"pkg": "name", "package": "name"}
    name: tuple[str, ...] = ()
    state: Literal["present", "installed", "absent", "removed"] = "present"
    deb: tuple[str, ...] = ()
    update_cache: bool = False
    cache_valid_time: int = 0
    install_recommends: bool = False
    purge: bool = False
    use: str = "auto"


def _split(spec: str) -> tuple[str, str | None]:
    name, _, version = spec.partition("=")
    return name, version or None


def _needs(args: AptArgs, _ctx: TaskContext) -> list[Fact[Any]]:
    facts: list[Fact[Any]] = [deb_file(path) for path in args.deb]
    if args.name:
        facts.append(deb_packages([_split(n)[0] for n in args.name]))
    return facts


def _missing(args: AptArgs, installed: dict[str, str]) -> list[str]:
    missing = []
    for spec in args.name:
        name, version = _split(spec)
        if name not in installed or (version is not None and installed[name] != version):
            missing.append(spec)
    return missing


@task("apt", args=AptArgs, needs=_needs, aliases=("package", "apt_deb"))
def apt(args: AptArgs, ctx: TaskContext) -> Plan:
    """Install or remove Debian packages by ``name`` (``pkg=version`` pins a version), or
    install ``deb`` files already on the host. Only missing packages are installed.

    ```yaml
    - apt:
        name: [containerd, runc, conntrack]
        update_cache: true
    - apt: {deb: /var/cache/kboot/debs/etcd_3.5.17_amd64.deb}
    - package: {name: telnet, state: absent}
    ```
    """
    installed: dict[str, str] = {}
    if args.name:
        installed = ctx.fact(deb_packages([_split(n)[0] for n in args.name]))
    commands: list[Command] = []
    if args.state in ("absent", "removed"):
        present = [n for n in args.name if _split(n)[0] in installed]
        if present:
            verb = "purge" if args.purge else "remove"
            commands.append(Command(f"{_APT} {verb} {' '.join(map(quote, present))}"))
        return Plan(tuple(commands), opaque=True)
    wanted = _missing(args, installed)
    for path in args.deb:
        info = ctx.fact(deb_file(path))
        if info is None:
            return Plan(failed=f"{path} is not a readable .deb file on the host")
        if installed.get(info[0]) != info[1]:
            wanted.append(path)
    if not wanted:
        return Plan()
    recommends = "" if args.install_recommends else " --no-install-recommends"
    if args.update_cache:
        commands.append(Command(f"{_APT} update"))
    commands.append(Command(f"{_APT} install{recommends} {' '.join(map(quote, wanted))}"))
    return Plan(tuple(commands), opaque=True, result={"installed": wanted})
