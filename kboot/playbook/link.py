"""One host's round trips during a play: the gather script, the change script (with uploads of
big files, workstation files streamed from disk), fetches; and turning transport failures into
the host's recorded outcome.

Every exec goes through :meth:`HostLink.exec_script` (``/bin/sh -s`` with the script on stdin)
and is counted, because round trips — not CPU — are what a run's wall time is made of.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from kboot.errors import BecomeError, ConnectError, PlaybookError, TransportError, tail
from kboot.facts.base import Fact, FactError, quote
from kboot.facts.batch import gather_script, gathered_outputs, new_nonce
from kboot.playbook.events import Failure, TaskResult
from kboot.playbook.script import (
    Step,
    StepOutcome,
    build_script,
    needs_upload,
    parse_outcomes,
    upload_path,
)
from kboot.playbook.state import HostState, RunState
from kboot.tasks.base import Command, Fetch
from kboot.transport.base import RunResult, Transport

SHELL = "/bin/sh -s"
T = TypeVar("T")


class HostDown(Exception):
    """The host stopped: unreachable or failed (already recorded)."""


class HostLink:
    def __init__(self, run: RunState, state: HostState, *, any_errors_fatal: bool) -> None:
        self.run = run
        self.state = state
        self.any_errors_fatal = any_errors_fatal

    # -- failures ----------------------------------------------------------------------------
    def fail(self, task: str, *, message: str = "", command: str = "",
             exit_code: int | None = None, location: str = "", output: str = "",
             counted: bool = False) -> None:
        """Record the host as failed (``counted``: its task result was already reported)."""
        self.state.failures.append(Failure(self.state.name, task, location, command, exit_code,
                                           message, tail(output)))
        if not counted:
            self.state.count("failed")
            self.run.emit(TaskResult(self.state.name, task, "", "failed", location=location,
                                     msg=message))
        self.state.failed = True
        if self.any_errors_fatal:
            self.run.abort.set()

    def unreachable(self, task: str, message: str) -> None:
        self.state.unreachable = True
        self.state.count("unreachable")
        self.state.failures.append(Failure(self.state.name, task, message=message))
        self.run.emit(TaskResult(self.state.name, task, "", "unreachable", msg=message))
        if self.any_errors_fatal:
            self.run.abort.set()

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call the transport; a transport failure ends the host (``HostDown``)."""
        try:
            return fn(*args, **kwargs)
        except BecomeError as exc:
            self.fail(what, message=exc.message)
        except (ConnectError, TransportError) as exc:
            self.unreachable(what, exc.message)
        raise HostDown

    # -- round trips -------------------------------------------------------------------------
    def transport(self, what: str) -> Transport:
        return self.call(what, self.run.transport, self.state)

    def exec_script(self, what: str, script: str, become: bool) -> RunResult:
        transport = self.transport(what)
        self.state.execs += 1
        return self.call(what, transport.run, SHELL, stdin=script.encode(), become=become)

    def gather(self, facts: Sequence[Fact[Any]], *, become: bool,
               cache: Collection[str] | None = None) -> dict[str, Any]:
        """Gather ``facts`` in one exec into the host's fact cache (only the keys in ``cache``
        if given); returns every value. An output that cannot be parsed fails the host."""
        nonce = new_nonce()
        result = self.exec_script("gathering facts", gather_script(facts, nonce), become)
        try:
            outputs = gathered_outputs(facts, result.stdout, nonce)
            return self.state.facts.gathered(facts, outputs, cache=cache)
        except FactError as exc:
            self.fail("gathering facts", message=f"{exc}; stderr: {result.stderr[-500:]}")
            raise HostDown from exc

    def execute(self, what: str, steps: Sequence[Step], become: bool) -> dict[int, StepOutcome]:
        """Run ``steps`` in one exec (big file contents uploaded first)."""
        if not steps:
            return {}
        nonce = new_nonce()
        uploads: dict[str, str] = {}
        try:
            for step in steps:
                for n, command in enumerate(step.commands):
                    if needs_upload(command):
                        path = upload_path(nonce, step.index, n)
                        self.upload(command, path)
                        uploads[f"{step.index}-{n}"] = path
        except HostDown:
            self.remove(uploads.values())
            raise
        result = self.exec_script(what, build_script(steps, nonce, uploads=uploads), become)
        outcomes = parse_outcomes(steps, result.stdout, result.stderr, nonce)
        for step in steps:  # a failed guard printed its facts as they are now
            outcome = outcomes[step.index]
            if outcome.stale and step.refresh:
                try:
                    fresh = gathered_outputs(step.refresh, result.stdout, nonce)
                except FactError:
                    continue  # the re-plan gathers them instead
                outcomes[step.index] = replace(outcome, fresh=fresh)
        if not any(o.ran or o.stale for o in outcomes.values()) and result.exit_code != 0:
            self.fail(what, message=f"could not run commands (exit {result.exit_code}): "
                                    f"{result.stderr.strip()[-500:]}")
            raise HostDown
        return outcomes

    def upload(self, command: Command, path: str) -> None:
        """Put a command's data at ``path`` (0600) for ``kb_data``: its bytes, or its
        workstation file streamed from disk (the host fails if that file changed since it
        was planned: the plan's checksum would not be the file's)."""
        transport = self.transport("upload")
        if command.source is None:
            assert command.data is not None
            self.call("upload", transport.put, command.data, path, mode=0o600)
            return
        try:
            source = command.source.open()
        except (OSError, PlaybookError) as exc:
            self.fail("upload", message=f"cannot read {command.source.path}: {exc}")
            raise HostDown from exc
        with source:
            self.call("upload", transport.put, source, path, mode=0o600)

    def remove(self, paths: Collection[str]) -> None:
        """Remove uploads the change script will not (it did not run); best effort, and only
        while the host is reachable."""
        if not paths or self.state.unreachable or self.state.transport is None:
            return
        with contextlib.suppress(ConnectError, TransportError):
            self.state.transport.run(f"rm -f -- {' '.join(quote(p) for p in paths)}")

    def fetch(self, what: str, items: Sequence[Fetch]) -> str | None:
        """Copy files from the host; returns an error message, or ``None``."""
        transport = self.transport(what)
        for item in items:
            try:
                data = transport.get(item.src)
                Path(item.dest).parent.mkdir(parents=True, exist_ok=True)
                Path(item.dest).write_bytes(data)
            except (OSError, TransportError) as exc:
                return f"fetch {item.src}: {exc}"
        return None


def env_strings(env: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in env.items()}
