"""Rendering a run's events: a live per-host progress view with per-task lines, diffs and a
recap table (text), or one JSON object per event per line (``--output json``).

The runner calls a renderer from several host threads, serialised by the runner; renderers
only print.
"""

from __future__ import annotations

import datetime
import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from kboot.errors import tail
from kboot.playbook import (
    Event,
    HostFinished,
    HostResult,
    HostStarted,
    PhaseFinished,
    PlayStarted,
    Recap,
    RunSummary,
    TaskResult,
    event_to_dict,
)
from kboot.tasks.base import FileDiff

STYLES = {"ok": "green", "changed": "yellow", "failed": "bold red", "skipped": "cyan",
          "unreachable": "bold magenta"}


def unified_diff(diff: FileDiff) -> str:
    lines = difflib.unified_diff(diff.before.splitlines(keepends=True),
                                 diff.after.splitlines(keepends=True),
                                 fromfile=f"before: {diff.path}", tofile=f"after: {diff.path}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


class JsonRenderer:
    """One JSON event per line on stdout (for machines)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(self, event: Event) -> None:
        self.console.file.write(json.dumps(event_to_dict(event), default=str) + "\n")
        self.console.file.flush()

    def close(self) -> None:
        pass


class TextRenderer:
    """Per-task lines (changed/failed always; ok/skipped with ``verbose``), diffs with
    ``show_diff``, a live host table while running (on a terminal), and the recap."""

    def __init__(self, console: Console, *, show_diff: bool = False, verbose: bool = False,
                 live: bool | None = None) -> None:
        self.console = console
        self.show_diff = show_diff
        self.verbose = verbose
        self.hosts: dict[str, dict[str, Any]] = {}
        use_live = console.is_terminal if live is None else live
        self.live = Live(self._table(), console=console, transient=True,
                         refresh_per_second=8) if use_live else None
        if self.live is not None:
            self.live.start()

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()

    def __call__(self, event: Event) -> None:
        if isinstance(event, PlayStarted):
            self.console.print(f"\n[bold]PLAY[/] \\[{escape(event.play)}] "
                               f"on {len(event.hosts)} host(s)")
        elif isinstance(event, HostStarted):
            self.hosts.setdefault(event.host, {"status": "running", "task": "", "counts": {}})
            self.hosts[event.host]["status"] = "running"
        elif isinstance(event, HostFinished):
            self.hosts[event.host]["status"] = "done"
        elif isinstance(event, TaskResult):
            self._task(event)
        elif isinstance(event, Recap):
            self.close()
            self.console.print(recap_table(event.results))
        if self.live is not None:
            self.live.update(self._table())

    def _task(self, event: TaskResult) -> None:
        state = self.hosts.setdefault(event.host, {"status": "running", "task": "",
                                                   "counts": {}})
        state["task"] = event.task
        counts = state["counts"]
        counts[event.status] = counts.get(event.status, 0) + 1
        if event.status in ("ok", "skipped") and not self.verbose:
            return
        style = STYLES[event.status]
        label = "ignored" if event.ignored else event.status
        item = f" (item={escape(str(event.item))})" if event.item is not None else ""
        handler = " [dim]handler[/]" if event.handler else ""
        line = (f"[{style}]{label}[/]: [bold]{escape(event.host)}[/] "
                f"{escape(event.task)}{item}{handler}")
        if event.msg and event.status in ("failed", "unreachable"):
            line += f" — {escape(event.msg)}"
        self.console.print(line, highlight=False)
        if event.status == "failed" and event.command:
            self.console.print(f"    command: {escape(event.command)}", highlight=False)
            output = tail(event.stderr or event.stdout, 20)
            if output:
                self.console.print(Text("    " + output.replace("\n", "\n    ")))
        if self.show_diff:
            for diff in event.diff:
                self.console.print(Text(unified_diff(diff)), highlight=False)

    def _table(self) -> Table:
        table = Table(title="hosts", show_edge=False, pad_edge=False)
        for column in ("host", "state", "ok", "changed", "failed", "current task"):
            table.add_column(column)
        for host, state in sorted(self.hosts.items()):
            counts = state["counts"]
            table.add_row(escape(host), state["status"], str(counts.get("ok", 0)),
                          str(counts.get("changed", 0)),
                          str(counts.get("failed", 0) + counts.get("unreachable", 0)),
                          escape(state["task"]))
        return table


def recap_table(results: dict[str, HostResult] | Any) -> Group:
    table = Table(title="PLAY RECAP", title_justify="left")
    for column in ("host", "ok", "changed", "unreachable", "failed", "skipped", "rescued",
                   "ignored"):
        table.add_column(column, justify="left" if column == "host" else "right")
    for host, r in sorted(results.items()):
        style = "red" if not r.succeeded else ("yellow" if r.changed else "green")
        table.add_row(Text(host, style=style), str(r.ok), str(r.changed), str(r.unreachable),
                      str(r.failed), str(r.skipped), str(r.rescued), str(r.ignored))
    return Group(table)


def phase_table(title: str, phases: Sequence[PhaseFinished],
                changed: Mapping[str, int] | None = None) -> Table:
    """Per-phase recap: result, (tasks changed,) local start time and seconds."""
    table = Table(title=title, title_justify="left")
    columns = ["phase", "result", *(["changed"] if changed is not None else []), "started",
               "seconds"]
    for column in columns:
        table.add_column(column, justify="left" if column in ("phase", "result") else "right")
    for p in phases:
        started = datetime.datetime.fromtimestamp(p.start).strftime("%H:%M:%S")
        counts = [str(changed.get(p.phase, 0))] if changed is not None else []
        result = p.status if p.status == "ok" else f"[bold red]{escape(p.status)}[/]"
        table.add_row(escape(p.phase), result, *counts, started, f"{p.end - p.start:.1f}")
    return table


def failure_summary(summary: RunSummary) -> str:
    """Exactly which host, task and command failed, with the output tail (markup-free)."""
    lines: list[str] = []
    if summary.aborted:
        lines.append(f"run stopped: {summary.aborted}")
    for failure in summary.failures:
        where = f" ({failure.location})" if failure.location else ""
        lines.append(f"FAILED {failure.host}: task {failure.task!r}{where}")
        if failure.message:
            lines.append(f"  reason: {failure.message}")
        if failure.command:
            code = f" (exit {failure.exit_code})" if failure.exit_code is not None else ""
            lines.append(f"  command{code}: {failure.command}")
        if failure.output:
            lines.append("  output:\n    " + failure.output.replace("\n", "\n    "))
    return "\n".join(lines)
