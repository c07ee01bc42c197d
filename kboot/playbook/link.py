"""One host's round trips during a play: the gather script, the change script (with uploads of
big files), fetches; and turning transport failures into the host's recorded outcome.

Every exec goes through :meth:`HostLink.exec_script` (``/bin/sh -s`` with the script on stdin)
and is counted, because round trips — not CPU — are what a run's wall time is made of.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from kboot.errors import BecomeError, ConnectError, TransportError, tail
from kboot.facts.base import Fact, FactError
from kboot.facts.batch import expectation, gather_script, gathered_outputs, new_nonce
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
from kboot.tasks.base import Fetch
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

    def gather(self, facts: Sequence[Fact[Any]], *, become: bool) -> dict[str, Any]:
        """Gather ``facts`` in one exec; remembers each output's digest for guards."""
        nonce = new_nonce()
        result = self.exec_script("gathering facts", gather_script(facts, nonce), become)
        try:
            outputs = gathered_outputs(facts, result.stdout, nonce)
            values = {fact.key: fact.value(outputs[fact.key]) for fact in facts}
        except FactError as exc:
            self.fail("gathering facts", message=f"{exc}; stderr: {result.stderr[-500:]}")
            raise HostDown from exc
        self.state.fact_digests.update({k: expectation(out) for k, out in outputs.items()})
        self.state.unverified.difference_update(outputs)
        return values

    def execute(self, what: str, steps: Sequence[Step], become: bool) -> dict[int, StepOutcome]:
        """Run ``steps`` in one exec (big file contents uploaded first)."""
        if not steps:
            return {}
        nonce = new_nonce()
        uploads: dict[str, str] = {}
        for step in steps:
            for n, command in enumerate(step.commands):
                if needs_upload(command):
                    assert command.data is not None
                    path = upload_path(nonce, step.index, n)
                    self.call("upload", self.transport("upload").put, command.data, path,
                              mode=0o600)
                    uploads[f"{step.index}-{n}"] = path
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
