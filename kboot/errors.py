"""The bootstrapper's exception hierarchy, in one place.

Every error a user can cause or meet carries the context needed to act on it (file and line,
host, task, command, exit code, output tail) and renders as one clear message at the CLI, which
never shows a traceback for these. Anything *not* derived from :class:`KbootError` is a bug.

::

    KbootError
    ├── UserError                  bad input: the user can fix it
    │   ├── InventoryError         inventory file problems (file:line field: expected …)
    │   ├── PlaybookError          playbook/task-file problems, unsupported keywords, bad task args
    │   ├── TemplateError          jinja2 rendering problems
    │   └── ConfigError            other configuration and command-line mistakes
    ├── TransportError             moving bytes to a host failed
    │   ├── ConnectError           could not connect or authenticate (host unreachable)
    │   ├── HostKeyError           unknown or changed host key refused
    │   └── BecomeError            sudo refused or password wrong
    ├── TaskFailed                 a command of a task failed on a host
    ├── LabError                   lab machines could not be built, started or removed
    └── ClusterError               a cluster operation (up, reset, day-2) could not proceed
"""

from __future__ import annotations

from dataclasses import dataclass


class KbootError(Exception):
    """Base of all expected errors; ``str(err)`` is the message shown to the user."""


@dataclass(frozen=True)
class Location:
    """Where in a user's file something went wrong."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}"


class UserError(KbootError):
    """Bad input that the user can fix; optionally tied to a file location and a field path."""

    def __init__(
        self, message: str, *, location: Location | None = None, field: str | None = None
    ) -> None:
        self.message = message
        self.location = location
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.location is not None:
            parts.append(str(self.location))
        if self.field:
            parts.append(self.field)
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class InventoryError(UserError):
    """An inventory file is malformed or inconsistent."""


class PlaybookError(UserError):
    """A playbook or task file is malformed, or uses something kboot does not support."""


class TemplateError(UserError):
    """A template failed to render (undefined variable, syntax error)."""


class ConfigError(UserError):
    """A command-line argument or configuration value is wrong."""


class TransportError(KbootError):
    """Moving bytes to or from a host failed."""

    def __init__(self, host: str, message: str) -> None:
        self.host = host
        self.message = message
        super().__init__(f"{host}: {message}")


class ConnectError(TransportError):
    """The host could not be reached or refused authentication."""


class HostKeyError(TransportError):
    """The host's key is unknown under a strict policy, or differs from the recorded one."""


class BecomeError(TransportError):
    """Privilege escalation (sudo) failed."""


def tail(text: str, lines: int = 20) -> str:
    """The last ``lines`` lines of ``text``: what error messages show of long outputs."""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


class TaskFailed(KbootError):
    """A task's command exited non-zero (or its ``failed_when`` held) on a host."""

    def __init__(
        self,
        *,
        host: str,
        task: str,
        command: str = "",
        exit_code: int | None = None,
        stdout: str = "",
        stderr: str = "",
        message: str = "",
    ) -> None:
        self.host = host
        self.task = task
        self.command = command
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        self.message = message
        detail = message or f"command exited {exit_code}"
        text = f"{host}: task {task!r} failed: {detail}"
        if command:
            text += f"\n  command: {command}"
        out = tail(stderr or stdout)
        if out:
            text += "\n  output:\n    " + out.replace("\n", "\n    ")
        super().__init__(text)


class LabError(KbootError):
    """Lab machines could not be built, started, changed or removed."""


class ClusterError(KbootError):
    """A cluster-level operation could not proceed."""
