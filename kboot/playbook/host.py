"""Running one play on one host, batched: the heart of kboot's speed.

Tasks are cut into *segments* at points where a later task reads what an earlier one
registers. For a segment, the facts every task needs are gathered in ONE exec; then tasks are
planned in order, and the commands of the planned tasks go to the host in ONE exec (see
:mod:`kboot.playbook.script`). A batch ends early only when ``become`` differs, after a task
whose failure is decided by ``failed_when`` or retried by ``until``, or where a guard (below)
finds that a fact changed. A no-op re-run therefore costs one fact round trip per segment and
no change round trip at all.

Facts are not thrown away when a task may have changed them. A task that writes known bytes
*predicts* the stat and content the file will have; after an *opaque* command every cached fact
becomes *unverified*. Later tasks plan on predicted, touched and unverified facts like on fresh
ones, but their steps carry a *guard* that re-reads those facts on the host first; a guard that
fails stops the script there and prints the facts as they are now, so the re-plan needs no
extra gathering. A first run of a play thus costs one gathering plus one change round trip,
plus one more per guard that really found a difference.

This module walks the play (segments, blocks, handlers, ``meta``); planning a batch is
:mod:`kboot.playbook.batching`, running it :mod:`kboot.playbook.executor`, the fact cache
:mod:`kboot.playbook.factcache`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kboot.facts.base import Fact
from kboot.facts.files import identity
from kboot.facts.system import ansible_facts, setup_facts
from kboot.playbook.events import HostFinished, HostStarted, TaskResult
from kboot.playbook.executor import SegmentRunner
from kboot.playbook.link import HostDown, HostLink
from kboot.playbook.model import Play, TaskSpec
from kboot.playbook.scope import HostScope
from kboot.playbook.state import HostState, RunState
from kboot.playbook.units import Expander, Unit
from kboot.tasks.registry import lookup

SETUP_KEYS = frozenset(f.key for f in setup_facts())
"""``gather_facts`` results: variables (``ansible_facts``), not cached facts."""


class HostPlay:
    def __init__(self, run: RunState, state: HostState, play: Play, play_hosts: Sequence[str],
                 batch: Sequence[str] | None = None) -> None:
        self.run = run
        self.state = state
        self.play = play
        self.scope = HostScope(run, state, play, play_hosts,
                               batch if batch is not None else play_hosts)
        self.link = HostLink(run, state, any_errors_fatal=play.any_errors_fatal)
        opts = run.options
        self.expander = Expander(state.name, play.become, opts.check, opts.diff,
                                 tuple(dict.fromkeys((play.basedir, *opts.search_paths))),
                                 run.sources)
        self.runner = SegmentRunner(run, self.link, self.expander, self.scope,
                                    environment=play.environment,
                                    lookahead=self.lookahead_facts)
        self._ahead: list[TaskSpec] = []

    # -- the play ----------------------------------------------------------------------------
    def execute(self) -> None:
        self.run.emit(HostStarted(self.state.name, self.play.name))
        try:
            if self.play.gather_facts:
                self.gather_setup()
            self.run_tasks(self.play.tasks)
            self.flush_handlers()
        except HostDown:
            pass
        self.run.emit(HostFinished(self.state.name, self.play.name))

    def gather_setup(self) -> None:
        """``gather_facts``, in the same exec as the prefetch of the play's task facts (tasks
        whose arguments need ``ansible_facts`` are simply not prefetched)."""
        cache = self.state.facts
        facts: dict[str, Fact[Any]] = {f.key: f for f in setup_facts()}
        self._ahead = list(self.play.tasks)
        for fact in cache.missing(self.lookahead_facts().values()):
            facts.setdefault(fact.key, fact)
        who = identity(self.play.become)
        if who.key not in cache:
            facts[who.key] = who
        values = self.link.gather(list(facts.values()), become=self.play.become,
                                  cache=facts.keys() - SETUP_KEYS)
        self.state.setup = ansible_facts(values)
        self.scope.changed()
        self.state.count("ok")
        self.run.emit(TaskResult(self.state.name, "Gathering Facts", "setup", "ok",
                                 location=str(self.play.location)))

    def run_tasks(self, tasks: Sequence[TaskSpec]) -> None:
        i = 0
        self._ahead = list(tasks)
        while i < len(tasks):
            if self.run.abort.is_set():
                raise HostDown
            task = tasks[i]
            if task.action == "block":
                self.run_block(task)
                i += 1
            elif task.action == "meta":
                self.meta(task)
                i += 1
            else:
                end = segment_end(tasks, i)
                self._ahead = list(tasks[end:])
                self.run_segment(tasks[i:end])
                i = end

    def lookahead_facts(self) -> dict[str, Fact[Any]]:
        """Facts of the tasks after the current segment that do not depend on registered
        results: fetched with the current gathering so later segments need no round trip.
        Only a prefetch; each task still plans with facts valid at its turn."""
        registered = {t.register for t in self._ahead if t.register}
        found: dict[str, Fact[Any]] = {}
        scope = self.scope.variables()
        for task in self._ahead:
            refs = task.arg_refs
            if task.action in ("meta", "block") or "*" in refs or refs & registered:
                continue
            definition = lookup(task.action)
            if definition is None or definition.local:
                continue
            for unit in self.expander.expand(task, scope):
                for fact in unit.facts:
                    found.setdefault(fact.key, fact)
        return found

    def run_block(self, block: TaskSpec) -> None:
        """``block``/``rescue``/``always``: a failure in the block runs ``rescue`` (the host is
        then no longer failed: the failure counts as rescued); ``always`` runs either way,
        unless the host became unreachable or the run is aborting."""
        try:
            try:
                self.run_tasks(block.args["block"])
            except HostDown:
                if not self.state.failed or self.state.unreachable or not block.args["rescue"]:
                    raise
                failure = self.state.rescue()
                self.scope.set_runtime({"ansible_failed_task": {"name": failure.task},
                                        "ansible_failed_result": {"msg": failure.message,
                                                                  "rc": failure.exit_code}})
                self.run_tasks(block.args["rescue"])
        finally:
            if not self.state.unreachable and not self.run.abort.is_set():
                failed = self.state.failed
                self.state.failed = False  # let always run, then restore the verdict
                try:
                    self.run_tasks(block.args["always"])
                finally:
                    self.state.failed = self.state.failed or failed

    def meta(self, task: TaskSpec) -> None:
        action = task.args.get("_raw")
        if action == "flush_handlers":
            self.flush_handlers()
        elif action in ("end_host", "end_play"):
            raise HostDown

    def flush_handlers(self) -> None:
        for _ in range(10):  # handlers may notify handlers
            notified = list(self.state.notified)
            if not notified:
                return
            self.state.notified.clear()
            chosen = [h for h in self.play.handlers
                      if h.name in notified or set(h.listen) & set(notified)]
            self.runner.recorder.handler = True
            try:
                self.run_tasks(chosen)
            finally:
                self.runner.recorder.handler = False

    def run_segment(self, tasks: Sequence[TaskSpec]) -> None:
        """Expand the segment's tasks (a local task's ``set_fact`` applies before the next task
        expands; an expansion error ends the segment there), then run the units."""
        units: list[Unit] = []
        for task in tasks:
            expanded = self.expander.expand(task, self.scope.variables(), self.scope.overrides())
            for unit in expanded:
                if unit.plan is not None and unit.plan.set_vars and unit.error is None:
                    self.scope.set_runtime(unit.plan.set_vars)
            units.extend(expanded)
            if any(u.error is not None or (u.plan is not None and u.plan.failed)
                   for u in expanded):
                break
        self.runner.run_segment(units)


def segment_end(tasks: Sequence[TaskSpec], start: int) -> int:
    """Where the segment starting at ``start`` ends: before a ``meta`` or ``block``, or before
    a task reading what an earlier task of the segment registers."""
    first = tasks[start]
    produced = {first.register} if first.register else set()
    i = start + 1
    while i < len(tasks) and tasks[i].action not in ("meta", "block"):
        refs = tasks[i].refs
        if produced and ("*" in refs or refs & produced):
            break
        register = tasks[i].register
        if register:
            produced.add(register)
        i += 1
    return i
