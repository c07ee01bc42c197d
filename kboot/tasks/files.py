"""File-system tasks: ``file``, ``stat``, ``fetch``, and the shared pieces that write a file's
bytes and set its mode and ownership (used by ``copy``, ``template``, ``lineinfile``, ``sysctl``).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from kboot.facts.base import Fact, quote
from kboot.facts.files import (
    FileStat,
    file_content,
    file_stat,
    predicted_content,
    predicted_stat,
)
from kboot.tasks.base import (
    DATA_FN,
    UMASK_VAR,
    Command,
    Content,
    Fetch,
    FileDiff,
    LocalFile,
    Plan,
    TaskContext,
    task,
)

_OCTAL = re.compile(r"^0?[0-7]{3,4}$")


class ModeError(ValueError):
    pass


def parse_mode(mode: int | str | None) -> int | None:
    """Ansible's ``mode``: an int is the mode itself (YAML ``0644`` is octal), a string is octal
    digits. Symbolic modes (``u+x``) are not supported: they cannot be compared with a fact."""
    if mode is None or isinstance(mode, int):
        return mode
    if _OCTAL.match(mode.strip()):
        return int(mode.strip(), 8)
    raise ModeError(f"mode {mode!r}: expected octal digits such as '0644'")


@dataclass(frozen=True)
class Attrs:
    """Desired mode and ownership of a path (``None``: leave as is)."""

    mode: int | None = None
    owner: str | None = None
    group: str | None = None

    @classmethod
    def of(cls, args: Any) -> Attrs:
        return cls(parse_mode(args.mode), args.owner, args.group)


def attr_commands(path: str, attrs: Attrs, stat: FileStat, *, link: bool = False) -> list[Command]:
    """chmod/chown for what differs between ``attrs`` and ``stat`` (all of it if absent)."""
    p = quote(path)
    commands: list[Command] = []
    if attrs.mode is not None and not link and (not stat.exists or stat.mode != attrs.mode):
        commands.append(Command(f"chmod {attrs.mode:04o} -- {p}"))
    owner = attrs.owner if attrs.owner and (not stat.exists or stat.owner != attrs.owner) else ""
    group = attrs.group if attrs.group and (not stat.exists or stat.group != attrs.group) else ""
    if owner or group:
        spec = quote(f"{owner}:{group}" if group else owner)
        commands.append(Command(f"chown {'-h ' if link else ''}{spec} -- {p}"))
    return commands


@dataclass(frozen=True)
class WriteOptions:
    """``validate``: a command checking the new content (``%s`` is the temp file) before it
    replaces the old; ``backup``: keep the old file as ``<path>.<timestamp>~``."""

    validate: str | None = None
    backup: bool = False


def write_file(path: str, data: Content, attrs: Attrs, stat: FileStat,
               options: WriteOptions = WriteOptions()) -> Command:
    """Atomically replace ``path`` with ``data`` (bytes, or a workstation file uploaded by
    streaming it): a temp file in the same directory (created exclusively, ``set -C``, so
    nothing planted there is followed), then renamed. Unspecified mode/owner keep the existing
    file's, or 0644 and the remote user for a new one."""
    mode = attrs.mode if attrs.mode is not None else (stat.mode if stat.exists else 0o644)
    owner = attrs.owner or (stat.owner if stat.exists else "")
    group = attrs.group or (stat.group if stat.exists else "")
    parent = posixpath.dirname(path) or "."
    temp = quote(posixpath.join(parent, ".kboot-tmp.")) + "$$.$c"
    # the shell creates files 0666 & ~umask: modes within 0666 come from the umask alone (no
    # chmod process, and the temp file never has wider permissions than the result)
    creation = mode & 0o7111 == 0
    umask = f"umask {0o777 & ~mode:04o}; " if creation else ""
    restore = f'umask "{UMASK_VAR}"; ' if creation else ""
    steps = [] if creation else [f'chmod {mode:04o} "$t"']
    if owner or group:
        steps.append(f'chown {quote(f"{owner}:{group}" if group else owner)} "$t"')
    if options.validate:
        steps.append("{ " + options.validate.replace("%s", '"$t"') + "; }")
    if options.backup and stat.exists:
        steps.append(f'cp -p -- {quote(path)} {quote(path)}."$(date +%Y%m%d%H%M%S)~"')
    steps.append(f'mv -f -- "$t" {quote(path)}')
    script = (f't={temp}; {{ {{ set -C; {umask}{DATA_FN} >"$t"; r=$?; {restore}set +C; '
              f'[ "$r" -eq 0 ]; }} && {" && ".join(steps)}; }} || {{ rm -f -- "$t"; false; }}')
    display = f"write {path} ({measure(data)[0]} bytes, mode {mode:04o})"
    if isinstance(data, LocalFile):
        return Command(script, display=display, source=data)
    return Command(script, display=display, data=data)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def measure(data: Content) -> tuple[int, str]:
    """Size and sha256 of a content (a :class:`LocalFile` was hashed once, when planned)."""
    if isinstance(data, LocalFile):
        return data.size, data.sha256
    return len(data), sha256(data)


def _text(data: bytes | None) -> str:
    return "" if data is None else data.decode("utf-8", "replace")


def _summary(size: int, digest: str | None) -> str:
    """What ``--diff`` shows instead of a file too big to read into memory."""
    return f"(not shown: {size} bytes, sha256 {digest})\n"


def _diff(path: str, data: Content, stat: FileStat, ctx: TaskContext) -> FileDiff:
    """The change as text; a big workstation file (and the file it replaces) as a summary."""
    if isinstance(data, LocalFile):
        before = _summary(stat.size, stat.sha256) if stat.exists else ""
        return FileDiff(path, before, _summary(data.size, data.sha256))
    return FileDiff(path, _text(ctx.facts.get(file_content(path).key)), _text(data))


def content_plan(path: str, data: Content, attrs: Attrs, ctx: TaskContext, *,
                 force: bool = True, options: WriteOptions = WriteOptions()) -> Plan:
    """Converge ``path`` to ``data`` with ``attrs``: the plan shared by copy-like tasks."""
    stat = ctx.fact(file_stat(path))
    if stat.exists and stat.type == "directory":
        return Plan(failed=f"{path} is a directory")
    same = stat.exists and stat.sha256 == measure(data)[1]
    if same or (stat.exists and not force):
        commands = attr_commands(path, attrs, stat)
        kept = data if same else None
        return Plan(tuple(commands), touches=(path,),
                    predicts=_predicts(path, kept, attrs, stat, ctx) if kept is not None else ())
    diff = (_diff(path, data, stat, ctx),) if ctx.diff else ()
    return Plan((write_file(path, data, attrs, stat, options),), diff=diff, touches=(path,),
                predicts=_predicts(path, data, attrs, stat, ctx))


def _predicts(path: str, data: Content, attrs: Attrs, stat: FileStat, ctx: TaskContext
              ) -> tuple[tuple[Fact[Any], str], ...]:
    """The stat and content facts of ``path`` once it holds ``data`` with ``attrs`` (as
    :func:`write_file` and :func:`attr_commands` leave it); the stat only when its owner and
    group are known (given, kept from the old file, or the identity the commands run as). No
    content for a :class:`LocalFile`: it would hold the whole file (base64) per host; a later
    task reading the content gathers it from the host (the write made the old one stale)."""
    out: list[tuple[Fact[Any], str]] = []
    if not isinstance(data, LocalFile):
        out.append((file_content(path), predicted_content(data)))
    mode = attrs.mode if attrs.mode is not None else (stat.mode if stat.exists else 0o644)
    who = (stat.owner, stat.group) if stat.exists else ctx.identity
    if who is not None:
        owner, group = attrs.owner or who[0], attrs.group or who[1]
        if owner and group:
            size, digest = measure(data)
            out.append((file_stat(path),
                        predicted_stat(size, digest, mode=mode, owner=owner, group=group)))
    return tuple(out)


def content_facts(path: str, ctx: TaskContext, *, content: bool = True) -> list[Fact[Any]]:
    """What a copy-like task reads: the stat, and under ``--diff`` the content (unless
    ``content`` is false: a big file's diff is a summary that needs only the stat)."""
    facts: list[Fact[Any]] = [file_stat(path)]
    if ctx.diff and content:
        facts.append(file_content(path))
    return facts


@dataclass(frozen=True)
class FileArgs:
    ALIASES: ClassVar[dict[str, str]] = {"dest": "path", "name": "path"}
    path: str
    state: Literal["file", "absent", "directory", "link", "touch"] = "file"
    src: str | None = None
    mode: int | str | None = None
    owner: str | None = None
    group: str | None = None
    force: bool = False
    follow: bool = True


def _describe(stat: FileStat) -> str:
    if not stat.exists:
        return "state: absent\n"
    extra = f"target: {stat.link_target}\n" if stat.link_target else ""
    return f"state: {stat.type}\nmode: {stat.mode:04o}\nowner: {stat.owner}:{stat.group}\n{extra}"


def _file_commands(args: FileArgs, stat: FileStat) -> list[Command] | str:
    p, attrs = quote(args.path), Attrs.of(args)
    if args.state == "absent":
        return [Command(f"rm -rf -- {p}")] if stat.exists else []
    if args.state == "directory":
        if stat.exists and stat.type != "directory":
            return f"{args.path} exists and is a {stat.type}, not a directory"
        if stat.exists:
            return attr_commands(args.path, attrs, stat)
        if attrs.mode is None:
            return [Command(f"mkdir -p -- {p}"), *attr_commands(args.path, attrs, stat)]
        rest = Attrs(None, attrs.owner, attrs.group)  # mkdir -m sets the new directory's mode
        return [Command(f"mkdir -p -m {attrs.mode:04o} -- {p}"),
                *attr_commands(args.path, rest, stat)]
    if args.state == "link":
        if not args.src:
            return "state=link needs src"
        if stat.exists and stat.type == "link" and stat.link_target == args.src:
            return attr_commands(args.path, attrs, stat, link=True)
        blocked = stat.type not in ("link", "file") or (stat.type == "file" and not args.force)
        if stat.exists and blocked:
            return f"{args.path} exists and is a {stat.type} (use force: true to replace it)"
        return [Command(f"ln -sfn -- {quote(args.src)} {p}"),
                *attr_commands(args.path, attrs, FileStat(False), link=True)]
    if args.state == "touch" and not stat.exists:
        return [Command(f"touch -- {p}"), *attr_commands(args.path, attrs, FileStat(False))]
    if not stat.exists:
        return f"file {args.path} is absent, cannot continue (use state: touch to create it)"
    return attr_commands(args.path, attrs, stat)


@task("file", args=FileArgs, needs=lambda a, c: [file_stat(a.path)])
def file(args: FileArgs, ctx: TaskContext) -> Plan:
    """Manage a path's existence, type, mode and ownership (no content).

    ``state``: ``file`` (must exist; set attributes), ``directory`` (``mkdir -p``), ``link``
    (symlink to ``src``), ``touch`` (create if absent; kboot leaves existing files' times alone,
    so it is idempotent), ``absent`` (remove recursively).

    ```yaml
    - name: Config directory
      file:
        path: /etc/kboot
        state: directory
        mode: "0750"
        owner: root
    ```
    """
    stat = ctx.fact(file_stat(args.path))
    commands = _file_commands(args, stat)
    if isinstance(commands, str):
        return Plan(failed=commands)
    diff: tuple[FileDiff, ...] = ()
    if commands and ctx.diff:
        after = "state: absent\n" if args.state == "absent" else f"state: {args.state}\n"
        diff = (FileDiff(args.path, _describe(stat), after),)
    touches: tuple[str, ...] = (args.path,)
    if args.state == "absent":
        touches = (f"{args.path}/**",)
    elif args.state == "directory" and not stat.exists:  # mkdir -p may create ancestors
        touches = (args.path, *(str(p) for p in Path(args.path).parents))
    return Plan(tuple(commands), diff=diff, touches=touches)


@dataclass(frozen=True)
class StatArgs:
    ALIASES: ClassVar[dict[str, str]] = {"dest": "path", "name": "path"}
    path: str
    get_checksum: bool = True
    follow: bool = False


@task("stat", args=StatArgs, needs=lambda a, c: [file_stat(a.path)])
def stat(args: StatArgs, ctx: TaskContext) -> Plan:
    """Read a path's state into a registered variable (``result.stat.exists``, ``.mode``,
    ``.isdir``, ``.checksum`` as sha256, …). Never changes anything.

    ```yaml
    - stat: {path: /etc/kboot/admin.conf}
      register: admin
    - debug: {msg: "present"}
      when: admin.stat.exists
    ```
    """
    info = ctx.fact(file_stat(args.path))
    return Plan(result={"stat": info.as_dict()})


@dataclass(frozen=True)
class FetchArgs:
    src: str
    dest: str
    flat: bool = False
    fail_on_missing: bool = True


def fetch_dest(args: FetchArgs, host: str) -> str:
    if args.flat:
        return args.dest + Path(args.src).name if args.dest.endswith("/") else args.dest
    return str(Path(args.dest) / host / args.src.lstrip("/"))


def _local_sha256(path: str) -> str | None:
    local = Path(path)
    return sha256(local.read_bytes()) if local.is_file() else None


@task("fetch", args=FetchArgs, needs=lambda a, c: [file_stat(a.src)])
def fetch(args: FetchArgs, ctx: TaskContext) -> Plan:
    """Copy a file from the host to the workstation (``dest/<host>/<src>``, or ``dest`` itself
    with ``flat: true``); unchanged when the local copy already has the same checksum.

    ```yaml
    - fetch:
        src: /etc/kubernetes/admin.conf
        dest: artifacts/admin.conf
        flat: true
    ```
    """
    remote = ctx.fact(file_stat(args.src))
    dest = fetch_dest(args, ctx.host)
    if not remote.exists:
        if args.fail_on_missing:
            return Plan(failed=f"the remote file {args.src} does not exist")
        return Plan(msg=f"{args.src} does not exist")
    if remote.sha256 and _local_sha256(dest) == remote.sha256:
        return Plan(result={"dest": dest})
    return Plan(fetch=(Fetch(args.src, dest),), result={"dest": dest})
