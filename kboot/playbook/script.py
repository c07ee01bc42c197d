"""The change script: the commands of many tasks sent to a host in ONE exec, parsed back per task.

Each *step* (one task, or one loop item) runs in its own subshell with stdin from /dev/null,
between marker lines (carrying a random nonce) written to both stdout and stderr, so each step's
output, exit code and failing command are recovered exactly. A failing step sets a flag; at the
end of its task's steps the script stops, so later tasks never run on that host — unless the
step may fail (``ignore_errors``, ``failed_when``). File contents travel inside the script as
base64 (printed by the shell function ``kb_data``), or, when big (always for a workstation file
planned by reference), were uploaded beforehand and are removed afterwards. Every fork counts
(all hosts of a lab share the workstation's cores), so the scripts avoid needless processes.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kboot.facts.base import Fact, quote
from kboot.facts.batch import gather_script
from kboot.tasks.base import DATA_FN, INLINE_LIMIT, UMASK_VAR, Command

_MARK = "@@KBOOT-STEP"
STALE = -1000
_U = UMASK_VAR[1:]
# The umask that file-creating commands restore, read with builtins from the shell's own
# /proc status (Linux >= 4.7); elsewhere from ``$(umask)``, a subshell (a fork).
_SAVE_UMASK = (f"{_U}=; [ ! -r /proc/$$/status ] || while read -r k v; do "
              f"if [ \"$k\" = Umask: ]; then {_U}=$v; break; fi; done </proc/$$/status\n"
              f"[ -n \"{UMASK_VAR}\" ] || {_U}=$(umask)")


@dataclass(frozen=True)
class Step:
    index: int
    commands: tuple[Command, ...]
    environment: Mapping[str, str] = field(default_factory=dict)
    may_fail: bool = False  # ignore_errors / failed_when: a failure does not stop the script
    group_end: bool = True  # last step of its task: stop here if one of the task's steps failed
    guard: str = ""  # a shell condition re-checking the facts the step was planned with
    isolate: bool = True  # run in a subshell (user commands); kboot's own commands need not
    refresh: tuple[Fact[Any], ...] = ()  # when the guard fails: gather these, for the re-plan


@dataclass(frozen=True)
class StepOutcome:
    ran: bool
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    failed_command: int | None = None
    stale: bool = False  # its guard failed: the facts changed; re-plan from this step
    fresh: Mapping[str, str] = field(default_factory=dict)  # stale: its facts' outputs now


def upload_path(nonce: str, step: int, command: int) -> str:
    return f"/tmp/.kboot-{nonce}-{step}-{command}"


_PRINTABLE = {b: chr(b) for b in range(0x20, 0x7F)} | {0x0A: "\n"}
_ESCAPES = {**_PRINTABLE, ord("%"): "%%", ord("\\"): "\\\\", ord("'"): "\\047"}
PRINTF_LIMIT = 64 * 1024


def printf_format(data: bytes) -> str:
    """``data`` as a printf format string for single quotes: printable ASCII as itself, every
    other byte as a 3-digit octal escape (and a leading ``-``, which printf would take for an
    option). No NUL bytes (the caller checks)."""
    text = "".join(_ESCAPES.get(b) or f"\\{b:03o}" for b in data)
    return "\\055" + text[1:] if text.startswith("-") else text


def _data_function(data: bytes | None, path: str | None) -> str:
    """``kb_data`` prints a command's data: an uploaded file (always, for a workstation file
    planned by reference: ``data`` is ``None``), else printf (a shell builtin: no process) for
    small data without NUL bytes, else base64."""
    if path is not None:
        return f"{DATA_FN}() {{ cat -- {quote(path)}; }}\n"
    assert data is not None, "a command's source file must be uploaded"
    if len(data) <= PRINTF_LIMIT and b"\0" not in data:
        return f"{DATA_FN}() {{ printf '{printf_format(data)}'; }}\n"
    encoded = base64.b64encode(data).decode("ascii")
    return f"{DATA_FN}() {{ printf '%s' '{encoded}' | base64 -d; }}\n"


def _data_prefix(step: Step, index: int, command: Command, uploads: Mapping[str, str]) -> str:
    """The command's ``kb_data`` definition, if it carries data."""
    if command.data is None and command.source is None:
        return ""
    return _data_function(command.data, uploads.get(f"{step.index}-{index}"))


def _command_block(step: Step, index: int, command: Command, uploads: Mapping[str, str]) -> str:
    prefix = _data_prefix(step, index, command, uploads)
    return f"c={index}\n{prefix}{{\n{command.script}\n}} || exit $?\n"


def _isolated(step: Step, uploads: Mapping[str, str]) -> str:
    """A subshell: user commands may ``exit``, ``cd`` or export; the EXIT trap still names the
    failing command."""
    i = step.index
    body = [f"trap 'rc=$?; [ \"$rc\" -eq 0 ] || printf \"\\n%s C {i} %s\\n\" "
            f"\"$M\" \"$c\"' EXIT"]
    body += [f"export {k}={quote(str(v))}" for k, v in step.environment.items()]
    body += [_command_block(step, n, c, uploads) for n, c in enumerate(step.commands)]
    return "(\n" + "\n".join(body) + "\n) </dev/null\nrc=$?"


def _grouped(step: Step, uploads: Mapping[str, str]) -> str:
    """kboot's own commands (no ``exit``, no state): a command group, one fork less."""
    i = step.index
    parts = []
    for n, command in enumerate(step.commands):
        data = _data_prefix(step, n, command, uploads)
        parts.append(f"c={n} && {{\n{data}{command.script}\n}}")
    chain = " && ".join(parts) if parts else "true"
    return (f"rc=0; {{ {chain}; }} </dev/null || {{ rc=$?; "
            f"printf '\\n%s C {i} %s\\n' \"$M\" \"$c\"; }}")


def build_script(steps: Sequence[Step], nonce: str, *, uploads: Mapping[str, str]) -> str:
    """The script for ``steps``; ``uploads`` maps ``"step-command"`` to pre-uploaded data paths."""
    out = [f"M='{_MARK} {nonce}'", "f=0"]
    if any(UMASK_VAR in c.script for step in steps for c in step.commands):
        out.append(_SAVE_UMASK)  # restored after files created with their mode
    if uploads:
        out.append(f"trap 'rm -f -- {' '.join(quote(p) for p in uploads.values())}' EXIT")
    for step in steps:
        i = step.index
        if step.guard:
            fresh = gather_script(step.refresh, nonce) if step.refresh else ""
            out.append(f"if ! {{ {step.guard}; }}; then printf '\\n%s X {i}\\n' \"$M\"\n"
                       f"{fresh}exit 0; fi")
        out.append(f"printf '\\n%s S {i}\\n' \"$M\"; printf '\\n%s S {i}\\n' \"$M\" >&2")
        out.append(_isolated(step, uploads) if step.isolate else _grouped(step, uploads))
        out.append(f"printf '\\n%s R {i} %s\\n' \"$M\" \"$rc\"; printf '\\n%s R {i}\\n' \"$M\" >&2")
        if not step.may_fail:
            out.append('[ "$rc" -eq 0 ] || f=1')
        if step.group_end:
            out.append('[ "$f" -eq 0 ] || exit 0')
    out.append("printf '\\n%s E\\n' \"$M\"")
    return "\n".join(out) + "\n"


def needs_upload(command: Command) -> bool:
    return command.source is not None or (command.data is not None and
                                          len(command.data) > INLINE_LIMIT)


def _sections(text: str, nonce: str) -> tuple[dict[int, list[str]], dict[int, int],
                                              dict[int, int]]:
    prefix = f"{_MARK} {nonce} "
    bodies: dict[int, list[str]] = {}
    codes: dict[int, int] = {}
    failed: dict[int, int] = {}
    current: list[str] | None = None
    for line in text.split("\n"):
        if not line.startswith(prefix):
            if current is not None:
                current.append(line)
            continue
        parts = line[len(prefix):].split()
        if parts[0] == "S":
            current = bodies.setdefault(int(parts[1]), [])
        elif parts[0] == "R":
            current = None
            if len(parts) > 2:
                codes[int(parts[1])] = int(parts[2])
        elif parts[0] == "C":
            failed[int(parts[1])] = int(parts[2])
        elif parts[0] == "X":
            codes[int(parts[1])] = STALE
    return bodies, codes, failed


def _clean(lines: list[str]) -> str:
    return "\n".join(lines).rstrip("\r\n")


def parse_outcomes(steps: Sequence[Step], stdout: str, stderr: str,
                   nonce: str) -> dict[int, StepOutcome]:
    """Each step's outcome; steps the script never reached have ``ran=False``."""
    out_bodies, codes, failed = _sections(stdout, nonce)
    err_bodies, _, _ = _sections(stderr, nonce)
    outcomes: dict[int, StepOutcome] = {}
    for step in steps:
        if step.index not in codes:
            outcomes[step.index] = StepOutcome(ran=False)
            continue
        if codes[step.index] == STALE:
            outcomes[step.index] = StepOutcome(ran=False, stale=True)
            continue
        outcomes[step.index] = StepOutcome(
            ran=True,
            exit_code=codes[step.index],
            stdout=_clean(out_bodies.get(step.index, [])),
            stderr=_clean(err_bodies.get(step.index, [])),
            failed_command=failed.get(step.index),
        )
    return outcomes
