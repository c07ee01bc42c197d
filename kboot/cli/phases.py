"""Running cluster phases from the CLI: the engine wired to the live progress view, with one
connection per host kept open across phases (``kboot up`` runs 7 playbooks on the same hosts)."""

from __future__ import annotations

import argparse
import getpass
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from kboot.cli.output import JsonRenderer, TextRenderer
from kboot.cluster.resources import templates_dir
from kboot.cluster.up import PhaseOutcome
from kboot.errors import ConfigError
from kboot.inventory import Host, Inventory, load_inventory
from kboot.playbook import (
    PhaseFinished,
    PhaseStarted,
    Playbook,
    TaskResult,
    default_transports,
    run_playbook,
)
from kboot.playbook.state import TransportFactory
from kboot.transport.base import Transport


class _Borrowed:
    """A transport whose ``close`` belongs to its owner (the runner closes what it used)."""

    def __init__(self, inner: Transport) -> None:
        self._inner = inner
        self.host = inner.host

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def close(self) -> None:
        return None


class PhaseRunner:
    """A :class:`kboot.cluster.up.PlaybookRunner` over SSH with progress output. Use as a
    context manager: connections are closed at the end."""

    def __init__(self, inventory: Inventory, console: Console, *, check: bool = False,
                 diff: bool = False, limit: str | None = None, forks: int = 20,
                 output: str = "text", verbose: bool = False,
                 now: Callable[[], float] = time.time) -> None:
        self._open = default_transports(inventory, prompt=getpass.getpass)
        self._now = now
        self._phase_start: dict[str, float] = {}
        self.phase_times: list[PhaseFinished] = []  # finished phases, in order
        self._lock = threading.Lock()
        self._transports: dict[str, Transport] = {}
        self.console = console
        self.check, self.diff, self.limit, self.forks = check, diff, limit, forks
        self.output, self.verbose = output, verbose

    def _transport(self, host: Host) -> Transport:
        with self._lock:
            if host.name not in self._transports:
                self._transports[host.name] = self._open(host)
            return _Borrowed(self._transports[host.name])

    @property
    def transports(self) -> TransportFactory:
        """The runner's connections, for other engine runs on the same hosts to share."""
        return self._transport

    def on_phase(self, phase: str, status: str) -> None:
        """A cluster operation's phase callback (``"start"``, then ``"ok"``/``"failed"``…):
        records each phase's wall-clock times for the recap, and with ``--output json`` emits
        ``phase_started``/``phase_finished`` events between the playbooks' own."""
        now = self._now()
        event: PhaseStarted | PhaseFinished
        if status == "start":
            self._phase_start[phase] = now
            event = PhaseStarted(phase, start=now)
        else:
            event = PhaseFinished(phase, status, start=self._phase_start.pop(phase, now), end=now)
            self.phase_times.append(event)
        if self.output == "json":
            JsonRenderer(self.console)(event)

    def __call__(self, playbook: Path, inventory: Inventory, *, phase: str) -> PhaseOutcome:
        return self.run(playbook, inventory)

    def run(self, playbook: Path | Playbook | list[Any], inventory: Inventory) -> PhaseOutcome:
        """Run any playbook (a path, a parsed one or YAML data) with progress output."""
        renderer: TextRenderer | JsonRenderer = (
            JsonRenderer(self.console) if self.output == "json"
            else TextRenderer(self.console, show_diff=self.diff, verbose=self.verbose))
        changed_tasks: list[tuple[str, str, str]] = []

        def on_event(event: Any) -> None:
            if isinstance(event, TaskResult) and event.status == "changed":
                item = event.item if isinstance(event.item, str) else ""
                changed_tasks.append((event.host, event.task, item))
            renderer(event)

        try:
            summary = run_playbook(playbook, inventory, transports_factory=self._transport,
                                   check=self.check, diff=self.diff, limit=self.limit,
                                   forks=self.forks, on_event=on_event,
                                   search_paths=[templates_dir()])
        finally:
            renderer.close()
        failures = tuple(f"{f.host}: {f.task}: {f.message or f.output}".strip()
                         for f in summary.failures)
        if summary.aborted:
            failures += (summary.aborted,)
        changed = sum(r.changed for r in summary.results.values())
        return PhaseOutcome(ok=summary.ok, changed=changed, failures=failures,
                            changed_tasks=tuple(changed_tasks))

    def close(self) -> None:
        for t in self._transports.values():
            t.close()
        self._transports.clear()

    def __enter__(self) -> PhaseRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """``-f/--forks`` and ``-v/--verbose`` of the commands that run phases over the hosts."""
    parser.add_argument("-f", "--forks", type=int, default=20, metavar="N",
                        help="hosts in parallel (default 20)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also list ok and skipped tasks")


def cluster_inventory_arg(args: argparse.Namespace) -> Inventory:
    """The ``INVENTORY`` of a cluster command, after checking ``--forks``."""
    if args.forks < 1:
        raise ConfigError("--forks must be at least 1")
    return load_inventory(args.inventory, require_groups=("control_plane",))
