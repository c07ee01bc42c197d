"""Times in the event stream: tasks, hosts, plays and the recap are stamped where the run emits
them; phases by the CLI's phase runner; ``kboot up``'s recap shows per-phase times."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from kboot.cli.output import phase_table
from kboot.cli.phases import PhaseRunner
from kboot.playbook import (
    HostFinished,
    HostStarted,
    PhaseFinished,
    PlayFinished,
    PlayStarted,
    Recap,
    TaskResult,
    event_to_dict,
)
from kboot.playbook.events import EventClock
from tests.unit.playbook.helpers import Harness, make_inventory


def ticks(start: float = 1000.0) -> Iterator[float]:
    t = start
    while True:
        yield t
        t += 1.0


def test_clock_chains_a_hosts_tasks_and_spans_plays_and_hosts() -> None:
    clock = EventClock(now=ticks().__next__)
    play = clock.stamp(PlayStarted("p", ("h0",)))  # t=1000
    host = clock.stamp(HostStarted("h0", "p"))  # 1001
    first = clock.stamp(TaskResult("h0", "a", "command", "ok"))  # 1002
    second = clock.stamp(TaskResult("h0", "b", "command", "changed"))  # 1003
    done = clock.stamp(HostFinished("h0", "p"))  # 1004
    finished = clock.stamp(PlayFinished("p"))  # 1005
    recap = clock.stamp(Recap({}, 7.5))  # 1006
    assert play.start == 1000 and host.start == 1001
    assert isinstance(first, TaskResult) and (first.start, first.end) == (1001, 1002)
    assert isinstance(second, TaskResult) and (second.start, second.end) == (1002, 1003)
    assert isinstance(done, HostFinished) and (done.start, done.end) == (1001, 1004)
    assert isinstance(finished, PlayFinished) and (finished.start, finished.end) == (1000, 1005)
    assert isinstance(recap, Recap) and (recap.start, recap.end) == (998.5, 1006)
    assert event_to_dict(second)["duration"] == 1.0
    assert event_to_dict(finished)["duration"] == 5.0
    assert "duration" not in event_to_dict(play)  # a start has no duration


def test_a_real_run_stamps_every_task_play_and_the_recap(tmp_path: Path) -> None:
    harness = Harness(tmp_path, n=2)
    harness.run("""
        - hosts: nodes
          gather_facts: false
          tasks:
            - command: "true"
            - command: "true"
        """)
    kinds = [e.kind for e in harness.events]
    assert kinds[0] == "play_started" and kinds[-2:] == ["play_finished", "recap"]
    for host in ("h0", "h1"):
        started = next(e for e in harness.events
                       if isinstance(e, HostStarted) and e.host == host)
        tasks = harness.results(host)
        assert len(tasks) == 2 and started.start > 0
        assert tasks[0].start == started.start
        assert tasks[1].start == tasks[0].end and tasks[1].end >= tasks[1].start
    dicts = [event_to_dict(e) for e in harness.events]
    assert all(d["duration"] >= 0 for d in dicts if d["kind"] in (
        "task_result", "host_finished", "play_finished", "recap"))
    json.dumps(dicts, default=str)  # the --output json form


def test_phase_runner_records_phases_and_emits_json_events() -> None:
    buffer = io.StringIO()
    runner = PhaseRunner(make_inventory(1), Console(file=buffer), output="json",
                         now=ticks(50.0).__next__)
    runner.on_phase("etcd", "start")
    runner.on_phase("etcd", "ok")
    runner.on_phase("workers", "start")
    runner.on_phase("workers", "failed")
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [(d["kind"], d["phase"]) for d in lines] == [
        ("phase_started", "etcd"), ("phase_finished", "etcd"),
        ("phase_started", "workers"), ("phase_finished", "workers")]
    assert lines[1] == {"phase": "etcd", "status": "ok", "start": 50.0, "end": 51.0,
                        "kind": "phase_finished", "duration": 1.0}
    assert [(p.phase, p.status, p.end - p.start) for p in runner.phase_times] == [
        ("etcd", "ok", 1.0), ("workers", "failed", 1.0)]


def test_text_mode_prints_no_phase_events() -> None:
    buffer = io.StringIO()
    runner = PhaseRunner(make_inventory(1), Console(file=buffer))
    runner.on_phase("pki", "start")
    runner.on_phase("pki", "ok")
    assert buffer.getvalue() == "" and len(runner.phase_times) == 1


def test_up_recap_table_has_per_phase_start_and_seconds() -> None:
    out = io.StringIO()
    phases = [PhaseFinished("etcd", "ok", start=0.0, end=12.0),
              PhaseFinished("workers", "failed", start=12.0, end=15.5)]
    Console(file=out, width=120, color_system=None).print(
        phase_table("kboot up", phases, {"etcd": 3}))
    text = out.getvalue()
    assert "started" in text and "seconds" in text
    assert "12.0" in text and " 3.5" in text
    etcd = next(line for line in text.splitlines() if "etcd" in line)
    assert " ok " in etcd and " 3 " in etcd
    assert "failed" in next(line for line in text.splitlines() if "workers" in line)
