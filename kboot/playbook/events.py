"""What a run reports: typed events (for live output and the JSON stream) and the per-host
results it returns. Results are values: failures carry host, task, command, exit code and the
output tail, so a caller (the CLI, ``kboot.cluster``) can say exactly what broke.

Events carry wall-clock times (``start``/``end``, seconds since the epoch; ``duration`` in the
JSON form) so users and the benchmarks can see where time goes. The emitters do not time
anything: :class:`EventClock` stamps each event where the run emits it (one place, under the
run's event lock)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kboot.tasks.base import FileDiff

Status = Literal["ok", "changed", "failed", "skipped", "unreachable"]


@dataclass(frozen=True)
class PlayStarted:
    play: str
    hosts: tuple[str, ...]
    start: float = 0.0
    kind: Literal["play_started"] = "play_started"


@dataclass(frozen=True)
class PlayFinished:
    """The play's last host is done (or the run stopped in it)."""

    play: str
    start: float = 0.0
    end: float = 0.0
    kind: Literal["play_finished"] = "play_finished"


@dataclass(frozen=True)
class HostStarted:
    host: str
    play: str
    start: float = 0.0
    kind: Literal["host_started"] = "host_started"


@dataclass(frozen=True)
class TaskResult:
    """One task (or one loop item) on one host. ``stdout``/``stderr`` are complete (renderers
    show tails); empty under ``no_log``. ``start`` is when the host's previous event ended:
    tasks sent in one round trip share it, so its time falls on the first of them."""

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
    start: float = 0.0
    end: float = 0.0
    kind: Literal["task_result"] = "task_result"


@dataclass(frozen=True)
class HostFinished:
    host: str
    play: str
    start: float = 0.0
    end: float = 0.0
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
    start: float = 0.0
    end: float = 0.0
    kind: Literal["recap"] = "recap"


@dataclass(frozen=True)
class PhaseStarted:
    """A phase of a cluster operation (``kboot up``'s ``etcd``…) begins: each phase is one or
    more playbook runs or API steps. Emitted by whoever sequences phases, not by the runner."""

    phase: str
    start: float = 0.0
    kind: Literal["phase_started"] = "phase_started"


@dataclass(frozen=True)
class PhaseFinished:
    phase: str
    status: str  # what the sequencer reported: "ok", "failed", "skipped"…
    start: float = 0.0
    end: float = 0.0
    kind: Literal["phase_finished"] = "phase_finished"


Event = (PlayStarted | HostStarted | TaskResult | HostFinished | PlayFinished | Recap
         | PhaseStarted | PhaseFinished)
EventCallback = Callable[[Event], None]


class EventClock:
    """Stamps a run's events with wall-clock times as they are emitted. Not thread-safe: the
    run calls it under its event lock. ``now`` is injectable for tests."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._play = 0.0
        self._host_start: dict[str, float] = {}
        self._host_mark: dict[str, float] = {}  # end of the host's last event

    def stamp(self, event: Event) -> Event:
        t = self._now()
        if isinstance(event, PlayStarted):
            self._play = t
            return dataclasses.replace(event, start=t)
        if isinstance(event, PlayFinished):
            return dataclasses.replace(event, start=self._play or t, end=t)
        if isinstance(event, HostStarted):
            self._host_start[event.host] = self._host_mark[event.host] = t
            return dataclasses.replace(event, start=t)
        if isinstance(event, TaskResult):
            start = self._host_mark.get(event.host, t)
            self._host_mark[event.host] = t
            return dataclasses.replace(event, start=start, end=t)
        if isinstance(event, HostFinished):
            return dataclasses.replace(event, start=self._host_start.get(event.host, t), end=t)
        if isinstance(event, Recap):
            return dataclasses.replace(event, start=t - event.duration, end=t)
        return event


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
    if data.get("end"):
        data["duration"] = round(data["end"] - data["start"], 6)
    return data
