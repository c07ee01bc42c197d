"""Host-wide settings: ``sysctl`` (kernel parameters, live and persisted), ``modprobe`` (kernel
modules, optionally loaded at boot) and ``user`` (local accounts)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from kboot.facts.base import Fact, quote
from kboot.facts.files import file_content, file_stat
from kboot.facts.system import kernel_modules, sysctl, user
from kboot.tasks.base import Command, Plan, TaskContext, task
from kboot.tasks.files import Attrs, content_plan


@dataclass(frozen=True)
class SysctlArgs:
    name: str
    value: str | None = None
    state: Literal["present", "absent"] = "present"
    sysctl_file: str = "/etc/sysctl.conf"
    reload: bool = True
    sysctl_set: bool = False


def _sysctl_facts(args: SysctlArgs, _ctx: TaskContext) -> list[Fact[Any]]:
    path = args.sysctl_file
    return [sysctl(args.name), file_stat(path), file_content(path)]


def _sysctl_lines(text: str, args: SysctlArgs) -> list[str]:
    pattern = re.compile(rf"^\s*{re.escape(args.name)}\s*=")
    lines = text.splitlines()
    kept = [line for line in lines if not pattern.match(line)]
    if args.state == "absent":
        return kept
    wanted = f"{args.name} = {args.value}"
    hits = [i for i, line in enumerate(lines) if pattern.match(line)]
    if len(hits) == 1 and lines[hits[0]].split("=", 1)[1].strip() == str(args.value).strip():
        return lines
    if hits:
        out = [line for i, line in enumerate(lines) if i not in hits[:-1]]
        out[out.index(lines[hits[-1]])] = wanted
        return out
    return [*lines, wanted]


@task("sysctl", args=SysctlArgs, needs=_sysctl_facts, aliases=("ansible.posix.sysctl",))
def sysctl_task(args: SysctlArgs, ctx: TaskContext) -> Plan:
    """Set a kernel parameter in ``sysctl_file`` (default ``/etc/sysctl.conf``) and, with
    ``reload`` (default), in the running kernel.

    ```yaml
    - sysctl: {name: net.ipv4.ip_forward, value: "1", sysctl_file: /etc/sysctl.d/90-kboot.conf}
    ```
    """
    if args.state == "present" and args.value is None:
        return Plan(failed="state=present needs value")
    before = ctx.fact(file_content(args.sysctl_file))
    lines = (before or b"").decode().splitlines()
    edited = _sysctl_lines("\n".join(lines), args)
    commands: list[Command] = []
    diff: tuple[Any, ...] = ()
    if edited != lines or (before is None and args.state == "present"):
        data = ("\n".join(edited) + "\n").encode()
        plan = content_plan(args.sysctl_file, data, Attrs(), ctx)
        commands.extend(plan.commands)
        diff = plan.diff
    live = ctx.fact(sysctl(args.name))
    wanted = " ".join(str(args.value).split())
    if args.state == "present" and (args.reload or args.sysctl_set) and live != wanted:
        commands.append(Command(f"sysctl -q -w {quote(f'{args.name}={args.value}')}"))
    path = "/proc/sys/" + args.name.replace(".", "/")
    return Plan(tuple(commands), diff=diff, touches=(args.sysctl_file, path))


@dataclass(frozen=True)
class ModprobeArgs:
    name: str
    state: Literal["present", "absent"] = "present"
    params: str = ""
    persistent: Literal["present", "absent", "disabled"] = "disabled"


def _modprobe_facts(args: ModprobeArgs, _ctx: TaskContext) -> list[Fact[Any]]:
    return [kernel_modules(), file_stat(_modules_load(args.name))]


def _modules_load(name: str) -> str:
    return f"/etc/modules-load.d/{name}.conf"


@task("modprobe", args=ModprobeArgs, needs=_modprobe_facts,
      aliases=("community.general.modprobe",))
def modprobe(args: ModprobeArgs, ctx: TaskContext) -> Plan:
    """Load (or unload) a kernel module; ``persistent: present`` also loads it at boot through
    ``/etc/modules-load.d/<name>.conf``.

    ```yaml
    - modprobe: {name: br_netfilter, persistent: present}
    ```
    """
    loaded = args.name.replace("-", "_") in ctx.fact(kernel_modules())
    commands: list[Command] = []
    if args.state == "present" and not loaded:
        commands.append(Command(f"modprobe {quote(args.name)} {args.params}".rstrip()))
    if args.state == "absent" and loaded:
        commands.append(Command(f"modprobe -r {quote(args.name)}"))
    conf = _modules_load(args.name)
    if args.persistent == "present":
        commands.extend(content_plan(conf, f"{args.name}\n".encode(), Attrs(), ctx).commands)
    elif args.persistent == "absent" and ctx.fact(file_stat(conf)).exists:
        commands.append(Command(f"rm -f -- {quote(conf)}"))
    return Plan(tuple(commands), touches=("/proc/modules", conf))


@dataclass(frozen=True)
class UserArgs:
    name: str
    state: Literal["present", "absent"] = "present"
    uid: int | None = None
    group: str | None = None
    groups: tuple[str, ...] | None = None
    append: bool = False
    shell: str | None = None
    home: str | None = None
    comment: str | None = None
    create_home: bool = True
    system: bool = False
    password: str | None = None
    remove: bool = False


def _user_options(args: UserArgs, current: Any) -> list[str]:
    opts: list[str] = []
    checks = [("-u", args.uid, current and current.uid), ("-g", args.group, None),
              ("-s", args.shell, current and current.shell),
              ("-d", args.home, current and current.home),
              ("-c", args.comment, current and current.comment),
              ("-p", args.password, None)]
    for flag, wanted, have in checks:
        # group and password cannot be compared with the passwd entry: set on creation only
        comparable = flag not in ("-g", "-p")
        if wanted is not None and (current is None or (comparable and wanted != have)):
            opts += [flag, quote(str(wanted))]
    if args.groups is not None:
        have_groups = set(current.groups[1:]) if current else set()
        missing = set(args.groups) - have_groups
        extra = have_groups - set(args.groups)
        if current is None or missing or (extra and not args.append):
            opts += ["-G", quote(",".join(args.groups))] + (["-a"] if args.append and current
                                                              else [])
    return opts


@task("user", args=UserArgs, needs=lambda a, c: [user(a.name)])
def user_task(args: UserArgs, ctx: TaskContext) -> Plan:
    """Create, change or remove a local user. Only attributes given are converged.

    ```yaml
    - user: {name: etcd, system: true, shell: /usr/sbin/nologin, create_home: false}
    ```
    """
    current = ctx.fact(user(args.name))
    name = quote(args.name)
    touches = ("/etc/passwd", "/etc/group")
    if args.state == "absent":
        if current is None:
            return Plan()
        return Plan((Command(f"userdel {'-r ' if args.remove else ''}{name}"),), touches=touches)
    opts = _user_options(args, current)
    if current is None:
        opts += ["-m" if args.create_home else "-M"] + (["-r"] if args.system else [])
        return Plan((Command(f"useradd {' '.join(opts)} {name}"),), touches=touches)
    if not opts:
        return Plan(result={"uid": current.uid, "home": current.home})
    return Plan((Command(f"usermod {' '.join(opts)} {name}"),), touches=touches)
