"""``run_playbook``: plays over the inventory, hosts in parallel up to ``forks``.

Each play runs on its hosts in ``serial`` batches; within a batch every host runs the whole play
on its own thread (see :mod:`kboot.playbook.host`), so one slow or failed host never holds up
the others. A failed host leaves the run (later plays skip it) without stopping the others,
unless ``any_errors_fatal`` or ``max_fail_percentage`` says so. Usable as a library
(``kboot.cluster`` drives its phases with it); the CLI only renders its events.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from kboot.errors import ConfigError
from kboot.inventory import Host, Inventory, resolve_secrets
from kboot.playbook.events import EventCallback, PlayFinished, PlayStarted, Recap, RunSummary
from kboot.playbook.host import HostPlay
from kboot.playbook.hosts import play_hosts
from kboot.playbook.model import Play, Playbook, TaskSpec
from kboot.playbook.parse import load_playbook
from kboot.playbook.state import RunOptions, RunState, TransportFactory
from kboot.transport import Transport, open_transport

log = logging.getLogger(__name__)


def _no_prompt(question: str) -> str:
    raise ConfigError(f"{question.strip()} needed, but no prompt is available here "
                      "(set the password environment variable named in the inventory)")


def default_transports(inventory: Inventory, *,
                       prompt: Callable[[str], str] = _no_prompt) -> TransportFactory:
    """Real transports for the inventory's hosts (SSH or local); passwords are resolved once,
    from the environment or by ``prompt``."""
    secrets = resolve_secrets(inventory, prompt=prompt)

    def factory(host: Host) -> Transport:
        return open_transport(host, secrets=secrets)

    return factory


def tag_selected(task_tags: frozenset[str], tags: frozenset[str],
                 skip_tags: frozenset[str]) -> bool:
    """Ansible's tag rules: ``always`` runs unless skipped by name, ``never`` only when asked."""
    if task_tags & skip_tags or ("all" in skip_tags and "always" not in task_tags):
        return False
    if not tags or "all" in tags:
        return "never" not in task_tags or bool(task_tags & tags)
    return bool(task_tags & tags) or "always" in task_tags


def serial_batches(hosts: Sequence[str], serial: Sequence[int | str]) -> list[list[str]]:
    """Split ``hosts`` per ``serial`` (counts or percentages; the last size repeats)."""
    if not serial:
        return [list(hosts)] if hosts else []
    batches: list[list[str]] = []
    i, step = 0, 0
    while i < len(hosts):
        spec = serial[min(step, len(serial) - 1)]
        if isinstance(spec, str) and spec.endswith("%"):
            size = max(1, math.floor(len(hosts) * float(spec[:-1]) / 100))
        else:
            size = max(1, int(spec))
        batches.append(list(hosts[i:i + size]))
        i += size
        step += 1
    return batches


def _filter(tasks: Iterable[TaskSpec], options: RunOptions) -> tuple[TaskSpec, ...]:
    """The tasks the tags select (inside blocks too; a block is kept for its tasks)."""
    kept: list[TaskSpec] = []
    for task in tasks:
        if task.action == "block":
            sections = {k: _filter(v, options) for k, v in task.args.items()}
            if any(sections.values()):
                kept.append(replace(task, args=sections))
        elif tag_selected(task.tags, options.tags, options.skip_tags):
            kept.append(task)
    return tuple(kept)


def _run_play(state: RunState, play: Play, pool: ThreadPoolExecutor,
              limit: str | None) -> str:
    """Run one play; returns why the run must stop, or ``""``."""
    hosts = [h for h in play_hosts(state.inventory, play.hosts, limit) if state.hosts[h].alive]
    state.emit(PlayStarted(play.name, tuple(hosts)))
    filtered = replace(play, tasks=_filter(play.tasks, state.options))
    for batch in serial_batches(hosts, play.serial):
        futures = [pool.submit(HostPlay(state, state.hosts[h], filtered, hosts, batch).execute)
                   for h in batch]
        try:
            for future in futures:
                future.result()
        except KeyboardInterrupt:  # stop every host at its next batch, then let ^C through
            state.abort.set()
            for future in futures:
                future.cancel()
            raise
        if state.abort.is_set():
            return f"play {play.name!r}: a host failed and any_errors_fatal is set"
        failed = sum(1 for h in batch if not state.hosts[h].alive)
        if failed and failed == len(batch):
            return f"play {play.name!r}: every host of a batch failed"
        percent = play.max_fail_percentage
        if percent is not None and failed * 100 / len(batch) > percent:
            return f"play {play.name!r}: {failed}/{len(batch)} hosts failed " \
                   f"(max_fail_percentage {percent:g})"
    return ""


def run_playbook(
    playbook: str | Path | Playbook | list[Any],
    inventory: Inventory,
    *,
    transports_factory: TransportFactory | None = None,
    check: bool = False,
    diff: bool = False,
    limit: str | None = None,
    tags: Iterable[str] = (),
    skip_tags: Iterable[str] = (),
    forks: int = 10,
    extra_vars: Mapping[str, Any] | None = None,
    on_event: EventCallback | None = None,
    search_paths: Sequence[str | Path] = (),
) -> RunSummary:
    """Run a playbook (a path, parsed :class:`Playbook`, or YAML data) over ``inventory``.

    ``transports_factory`` opens a host's transport (default: SSH/local per the inventory);
    ``search_paths`` are extra directories for ``src`` files and templates (each searched
    as is and under ``files/``/``templates/``). Raises :class:`~kboot.errors.PlaybookError`
    before touching any host when the playbook is invalid; host failures are in the summary.
    """
    started = time.monotonic()
    book = playbook if isinstance(playbook, Playbook) else load_playbook(playbook)
    options = RunOptions(check=check, diff=diff, tags=frozenset(tags),
                         skip_tags=frozenset(skip_tags), extra_vars=dict(extra_vars or {}),
                         search_paths=tuple(Path(p) for p in search_paths), forks=max(1, forks))
    factory = transports_factory or default_transports(inventory)
    state = RunState(inventory, options, factory, on_event)
    aborted = ""
    try:
        with ThreadPoolExecutor(max_workers=options.forks,
                                thread_name_prefix="kboot-host") as pool:
            for play in book.plays:
                aborted = _run_play(state, play, pool, limit)
                state.emit(PlayFinished(play.name))
                if aborted:
                    break
    finally:
        state.close()
    results = {name: s.result() for name, s in state.hosts.items()
               if s.counts or s.failures}
    duration = time.monotonic() - started
    state.emit(Recap(results, duration))
    return RunSummary(results, duration, aborted)

