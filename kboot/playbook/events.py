"""What a run reports: typed events (for live output and the JSON stream) and the per-host
results it returns. Results are values: failures carry host, task, command, exit code and the
output tail, so a caller (the CLI, ``kboot.cluster``) can say exactly what broke."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kboot.tasks.base import FileDiff

Status = Literal["ok", "changed", "failed", "skipped", "unreachable"]


@dataclass(frozen=True)
class PlayStarted:
    play: str
    hosts: tuple[str, ...]
    kind: Literal["play_started"] = "play_started"


@dataclass(frozen=True)
class HostStarted:
    host: str
    play: str
    kind: Literal["host_started"] = "host_started"


@dataclass(frozen=True)
class TaskResult:
    """One task (or one loop item) on one host. ``stdout``/``stderr`` are complete (renderers
    show tails); empty under ``no_log``."""

    host: str
    task: str
    action: str
    status: Status
    location: str = ""
    item: Any = None
    msg: str = ""
    diff: tuple[FileDiff, ...] = ()
    command: str = ""
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    ignored: bool = False
    handler: bool = False
    kind: Literal["task_result"] = "task_result"


@dataclass(frozen=True)
class HostFinished:
    host: str
    play: str
    kind: Literal["host_finished"] = "host_finished"


@dataclass(frozen=True)
class Failure:
    """Why a host failed: which task, which command, its exit code and output tail."""

    host: str
    task: str
    location: str = ""
    command: str = ""
    exit_code: int | None = None
    message: str = ""
    output: str = ""


@dataclass(frozen=True)
class HostResult:
    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    ignored: int = 0
    rescued: int = 0
    failures: tuple[Failure, ...] = ()
    execs: int = 0  # exec round trips to the host (what batching drives down)

    @property
    def succeeded(self) -> bool:
        return not self.failed and not self.unreachable


@dataclass(frozen=True)
class Recap:
    results: Mapping[str, HostResult]
    duration: float
    kind: Literal["recap"] = "recap"


Event = PlayStarted | HostStarted | TaskResult | HostFinished | Recap
EventCallback = Callable[[Event], None]


@dataclass(frozen=True)
class RunSummary:
    """What ``run_playbook`` returns: every host's counts and failures."""

    results: Mapping[str, HostResult] = field(default_factory=dict)
    duration: float = 0.0
    aborted: str = ""  # why the run stopped early (any_errors_fatal, max_fail_percentage)

    @property
    def ok(self) -> bool:
        return not self.aborted and all(r.succeeded for r in self.results.values())

    @property
    def failures(self) -> list[Failure]:
        return [f for r in self.results.values() for f in r.failures]

    @property
    def changed(self) -> bool:
        return any(r.changed for r in self.results.values())


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict of an event (``--output json`` prints one per line)."""
    data = dataclasses.asdict(event)
    if isinstance(event, Recap):
        data["results"] = {h: dataclasses.asdict(r) for h, r in event.results.items()}
    return data
