"""``command`` and ``shell``: run something on the host, unless ``creates`` exists or
``removes`` does not. Their output (``stdout``, ``stderr``, ``rc``) is what ``register`` keeps."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from kboot.facts.base import Fact, quote
from kboot.facts.files import file_stat
from kboot.tasks.base import Command, Plan, TaskContext, task

FREE_FORM_KEYS = frozenset({"creates", "removes", "chdir", "executable", "stdin"})


@dataclass(frozen=True)
class CommandArgs:
    cmd: str | None = None
    argv: tuple[str, ...] | None = None
    creates: str | None = None
    removes: str | None = None
    chdir: str | None = None
    executable: str | None = None
    stdin: str | None = None


def _needs(args: CommandArgs, _ctx: TaskContext) -> list[Fact[Any]]:
    return [file_stat(p) for p in (args.creates, args.removes) if p]


def _guard(args: CommandArgs, ctx: TaskContext) -> str | None:
    """Why the command is not run (``creates`` exists / ``removes`` absent), if so."""
    if args.creates and ctx.fact(file_stat(args.creates)).exists:
        return f"skipped, since {args.creates} exists"
    if args.removes and not ctx.fact(file_stat(args.removes)).exists:
        return f"skipped, since {args.removes} does not exist"
    return None


def _run(line: str, args: CommandArgs) -> Plan:
    if args.chdir:
        line = f"cd {quote(args.chdir)} && {line}"
    if args.stdin is not None:
        line = f"printf '%s\\n' {quote(args.stdin)} | {{ {line}\n}}"
    return Plan((Command(line),), opaque=True, touches=tuple(p for p in (args.creates,) if p))


def _skipped(reason: str) -> Plan:
    return Plan(msg=reason, result={"rc": 0, "stdout": reason, "stderr": ""})


@task("command", args=CommandArgs, needs=_needs, free_form="cmd")
def command(args: CommandArgs, ctx: TaskContext) -> Plan:
    """Run a program without a shell (no pipes, redirections or ``$VARS``; arguments are
    quoted). ``creates``/``removes`` make it idempotent; ``chdir`` runs it elsewhere.

    ```yaml
    - command: kubeadm-like-init --config /etc/kboot/init.yaml
      args:
        creates: /etc/kboot/initialized
    - command: {argv: [etcdctl, member, list]}
      register: members
      changed_when: false
    ```
    """
    reason = _guard(args, ctx)
    if reason:
        return _skipped(reason)
    if args.argv:
        words = list(args.argv)
    elif args.cmd:
        words = shlex.split(args.cmd)
    else:
        return Plan(failed="command needs a command line (free form, cmd or argv)")
    return _run(" ".join(quote(w) for w in words), args)


@task("shell", args=CommandArgs, needs=_needs, free_form="cmd")
def shell(args: CommandArgs, ctx: TaskContext) -> Plan:
    """Run a command line through ``/bin/sh`` (or ``executable``): pipes, redirections and
    variables work. Same ``creates``/``removes``/``chdir`` as ``command``.

    ```yaml
    - shell: journalctl -u kboot-kubelet --no-pager | tail -n 50
      register: log
      changed_when: false
    ```
    """
    reason = _guard(args, ctx)
    if reason:
        return _skipped(reason)
    if not args.cmd:
        return Plan(failed="shell needs a command line (free form or cmd)")
    line = args.cmd
    if args.executable:
        line = f"{quote(args.executable)} -c {quote(line)}"
    return _run(line, args)
