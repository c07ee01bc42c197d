"""Tasks that converge a file's *content*: ``copy``, ``template`` and ``lineinfile``.

Each computes the desired bytes on the workstation and compares their sha256 with the host's
``file_stat`` fact; only a difference produces a write (atomic: temp file + rename). A big
``copy`` ``src`` is never read whole: it is planned by reference (see :class:`SourceFiles`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from kboot.facts.base import Fact
from kboot.facts.files import file_content, file_stat
from kboot.tasks.base import INLINE_LIMIT, Content, Plan, TaskContext, task
from kboot.tasks.files import Attrs, WriteOptions, content_facts, content_plan


@dataclass(frozen=True)
class CopyArgs:
    dest: str
    content: str | None = None
    src: str | None = None
    mode: int | str | None = None
    owner: str | None = None
    group: str | None = None
    force: bool = True
    validate: str | None = None
    backup: bool = False


def _dest(dest: str, src: str | None) -> str:
    return dest + Path(src).name if dest.endswith("/") and src else dest


def _copy_facts(args: CopyArgs, ctx: TaskContext) -> list[Fact[Any]]:
    dest = _dest(args.dest, args.src)
    if ctx.diff and args.src is not None:  # a big src's diff is a summary: no content gathered
        big = ctx.find_file(args.src, "files").stat().st_size > INLINE_LIMIT
        return content_facts(dest, ctx, content=not big)
    return content_facts(dest, ctx)


@task("copy", args=CopyArgs, needs=_copy_facts)
def copy(args: CopyArgs, ctx: TaskContext) -> Plan:
    """Put a file on the host from inline ``content`` or a workstation ``src`` (looked up in the
    playbook's ``files/`` directory, then next to the playbook). Compared by checksum; ``mode``,
    ``owner``, ``group`` converge too. ``force: false`` never replaces an existing file. A
    ``src`` over 256 KiB is streamed from disk (hashed once per run for all hosts, never held in
    memory); ``--diff`` shows it as its size and checksum.

    ```yaml
    - copy:
        dest: /etc/motd
        content: "Managed by kboot\\n"
        mode: "0644"
    - copy: {src: ca.pem, dest: /etc/kboot/pki/, mode: "0600"}
    ```
    """
    if (args.content is None) == (args.src is None):
        return Plan(failed="copy needs exactly one of content or src")
    data: Content
    if args.content is not None:
        data = args.content.encode()
    else:
        data = ctx.sources.content(ctx.find_file(str(args.src), "files"))
    return content_plan(_dest(args.dest, args.src), data, Attrs.of(args), ctx, force=args.force,
                        options=WriteOptions(args.validate, args.backup))


@dataclass(frozen=True)
class TemplateArgs:
    src: str
    dest: str
    mode: int | str | None = None
    owner: str | None = None
    group: str | None = None
    force: bool = True
    validate: str | None = None
    backup: bool = False


@task("template", args=TemplateArgs, needs=lambda a, c: content_facts(a.dest, c))
def template(args: TemplateArgs, ctx: TaskContext) -> Plan:
    """Render a jinja2 template (``src``, looked up in ``templates/``) with the host's variables
    and put the result at ``dest``. Undefined variables are errors (StrictUndefined).

    ```yaml
    - template:
        src: kubelet.service.j2
        dest: /etc/systemd/system/kboot-kubelet.service
        mode: "0644"
      notify: restart kubelet
    ```
    """
    text = ctx.templar.file(ctx.find_file(args.src, "templates"))
    return content_plan(args.dest, text.encode(), Attrs.of(args), ctx, force=args.force,
                        options=WriteOptions(args.validate, args.backup))


@dataclass(frozen=True)
class LineInFileArgs:
    ALIASES: ClassVar[dict[str, str]] = {"dest": "path", "destfile": "path", "name": "path",
                                         "regex": "regexp"}
    path: str
    line: str | None = None
    regexp: str | None = None
    state: Literal["present", "absent"] = "present"
    insertafter: str | None = None
    insertbefore: str | None = None
    create: bool = False
    backrefs: bool = False
    validate: str | None = None
    backup: bool = False
    mode: int | str | None = None
    owner: str | None = None
    group: str | None = None


def _lif_facts(args: LineInFileArgs, _ctx: TaskContext) -> list[Fact[Any]]:
    return [file_stat(args.path), file_content(args.path)]


def edit_lines(lines: list[str], args: LineInFileArgs) -> list[str]:
    """The pure line edit: replace the last ``regexp`` match, or insert ``line``; or delete."""
    pattern = re.compile(args.regexp) if args.regexp else None

    def matches(text: str) -> bool:
        return bool(pattern.search(text)) if pattern else text == args.line

    if args.state == "absent":
        return [text for text in lines if not matches(text)]
    line = args.line or ""
    hits = [i for i, text in enumerate(lines) if matches(text)]
    if hits:
        out = list(lines)
        if args.backrefs and pattern is not None:
            match = pattern.search(lines[hits[-1]])
            assert match is not None
            line = match.expand(line)
        out[hits[-1]] = line
        return out
    if args.backrefs:  # Ansible: with backrefs, no match leaves the file unchanged
        return lines
    if line in lines:
        return lines
    return _insert(lines, line, args)


def _insert(lines: list[str], line: str, args: LineInFileArgs) -> list[str]:
    where = len(lines)
    if args.insertbefore == "BOF":
        where = 0
    elif args.insertbefore:
        found = [i for i, t in enumerate(lines) if re.search(args.insertbefore, t)]
        where = found[-1] if found else len(lines)
    elif args.insertafter and args.insertafter != "EOF":
        found = [i for i, t in enumerate(lines) if re.search(args.insertafter, t)]
        where = found[-1] + 1 if found else len(lines)
    return [*lines[:where], line, *lines[where:]]


@task("lineinfile", args=LineInFileArgs, needs=_lif_facts)
def lineinfile(args: LineInFileArgs, ctx: TaskContext) -> Plan:
    """Ensure one line is present (replacing the last line matching ``regexp``, else inserted
    after ``insertafter``/before ``insertbefore``, default at the end), or that matching lines
    are absent. ``create: true`` creates a missing file.

    ```yaml
    - lineinfile:
        path: /etc/hosts
        regexp: '\\sregistry\\.local$'
        line: "10.0.0.5 registry.local"
    ```
    """
    if args.state == "present" and args.line is None:
        return Plan(failed="state=present needs line")
    if args.state == "absent" and args.line is None and args.regexp is None:
        return Plan(failed="state=absent needs line or regexp")
    before = ctx.fact(file_content(args.path))
    if before is None:
        if args.state == "absent":
            return Plan()
        if not args.create:
            return Plan(failed=f"{args.path} does not exist (use create: true)")
    text = (before or b"").decode()
    lines = text.splitlines()
    edited = edit_lines(lines, args)
    options = WriteOptions(args.validate, args.backup)
    if edited == lines and before is not None:
        return content_plan(args.path, before, Attrs.of(args), ctx, options=options)
    data = ("\n".join(edited) + "\n").encode() if edited else b""
    return content_plan(args.path, data, Attrs.of(args), ctx, options=options)
