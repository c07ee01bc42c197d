"""Running a segment of tasks on one host, batch after batch.

For each batch: gather the facts its units need that are not cached (one exec, with the
look-ahead's facts), plan it (:func:`~kboot.playbook.batching.plan_batch`, pure), send its
steps in one exec, retry an ``until`` unit, fetch, record the results
(:class:`~kboot.playbook.recording.Recorder`) and update the fact cache: facts the commands
touched are dropped or replaced by their predictions, and everything is doubted after an opaque
command or a guard that found a difference.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from kboot.errors import TemplateError
from kboot.facts.base import Fact
from kboot.facts.files import identity
from kboot.playbook.batching import Overlay, plan_batch, steps
from kboot.playbook.link import HostDown, HostLink
from kboot.playbook.recording import Recorder
from kboot.playbook.results import apply_conditions, base_result, verdict
from kboot.playbook.scope import HostScope
from kboot.playbook.script import StepOutcome
from kboot.playbook.state import RunState
from kboot.playbook.units import PLAN_ERRORS, Expander, Planned, Unit
from kboot.tasks.base import Plan, UndeclaredFact

log = logging.getLogger(__name__)
Lookahead = Callable[[], Mapping[str, Fact[Any]]]


class SegmentRunner:
    """Runs units on one host; ``lookahead`` names the facts of later tasks worth fetching
    with any gathering (see :meth:`kboot.playbook.host.HostPlay.lookahead_facts`)."""

    def __init__(self, run: RunState, link: HostLink, expander: Expander, scope: HostScope, *,
                 environment: Mapping[str, Any], lookahead: Lookahead) -> None:
        self.run = run
        self.state = link.state
        self.link = link
        self.expander = expander
        self.scope = scope
        self.environment = environment
        self.lookahead = lookahead
        self.recorder = Recorder(run, link, scope)

    def run_segment(self, units: Sequence[Unit]) -> None:
        k = 0
        while k < len(units):
            if self.run.abort.is_set():
                raise HostDown
            k += self.run_batch(units[k:])

    def run_batch(self, units: Sequence[Unit]) -> int:
        """Gather missing facts, plan as many units as can share one exec, run them, record
        the results. Returns how many units were consumed."""
        self.ensure_facts(units)
        plan = plan_batch(units, self.state.facts, self.plan_unit)
        batch = list(plan.units)
        assert batch, "a batch always takes its first unit (it is never guarded)"
        outcomes = self.link.execute(batch[0].unit.name, steps(batch, self.environment),
                                     bool(plan.become))
        until_error: dict[int, str] = {}
        if batch[0].unit.task.until is not None and not batch[0].unit.check:
            batch[0], outcomes, error = self.retry_until(batch[0], outcomes)
            if error:
                until_error[0] = error
        batch = [self._fetch(p) for p in batch]
        done = self.recorder.record(batch, outcomes, until_error)
        self.invalidate(batch[:done])
        if done < len(batch):  # a guard found a difference: doubt every fact, take the fresh
            self.state.facts.doubt_all()
            stale = outcomes.get(done)
            if stale is not None and stale.fresh:
                self.state.facts.learn(batch[done].unit.facts, stale.fresh)
        return done

    def _fetch(self, planned: Planned) -> Planned:
        plan = planned.plan
        if plan is None or not plan.fetch or planned.unit.check:
            return planned
        error = self.link.fetch(planned.unit.name, plan.fetch)
        return replace(planned, plan=Plan(failed=error)) if error else planned

    def ensure_facts(self, units: Sequence[Unit]) -> None:
        cache = self.state.facts
        wanted: dict[str, Fact[Any]] = {}
        become = False
        for unit in units:
            if unit.decided:
                continue
            for fact in cache.missing(unit.facts):
                if fact.key not in wanted:
                    wanted[fact.key] = fact
                    become = become or unit.become
        if not wanted:
            return
        for fact in cache.missing(self.lookahead().values()):
            wanted.setdefault(fact.key, fact)
        who = identity(become)  # whom files it creates will belong to (predictions)
        if who.key not in cache:
            wanted[who.key] = who
        self.link.gather(list(wanted.values()), become=become)

    def plan_unit(self, unit: Unit, overlay: Overlay) -> Planned:
        """Plan ``unit`` on exactly the facts it declares (cached, or predicted by
        ``overlay``), so a task reading a fact it does not declare fails every time."""
        definition = unit.definition
        assert definition is not None
        cache = self.state.facts
        facts = cache.values(f.key for f in unit.facts)
        if overlay:
            facts.update({k: f.value(out) for k, (f, out) in overlay.items()})
        ctx = self.expander.context(unit, facts, cache.value(identity(unit.become).key))
        try:
            return Planned(unit, definition.plan(unit.args, ctx))
        except PLAN_ERRORS as exc:
            return Planned(unit, None, str(exc))
        except (UndeclaredFact, KeyError) as exc:  # a kboot bug: say which task
            log.exception("task %s", unit.task.action)
            return Planned(unit, None, f"internal error: {exc}")

    def retry_until(self, planned: Planned, outcomes: dict[int, StepOutcome]
                    ) -> tuple[Planned, dict[int, StepOutcome], str]:
        """``until``/``retries``/``delay``: run the unit again (re-planned on fresh facts) until
        its condition holds. Only this unit is in its batch, so nothing else is repeated. A
        template error in the condition stops the retries and fails the task (returned as the
        third element)."""
        unit = planned.unit
        task = unit.task
        assert task.until is not None
        for attempt in range(1, task.retries + 1):
            result = apply_conditions(planned, base_result(planned, outcomes.get(0)))
            try:
                if verdict(task.until, unit, result.value):
                    break
            except TemplateError as exc:
                return planned, outcomes, f"until: {exc}"
            if attempt == task.retries or self.run.abort.is_set():
                break
            time.sleep(task.delay)
            self.state.facts.forget_all()
            self.ensure_facts([unit])
            planned = self.plan_unit(unit, {})
            if planned.failed:
                break
            outcomes = self.link.execute(unit.name, steps([planned], self.environment),
                                         unit.become)
        return planned, outcomes, ""

    def invalidate(self, batch: Sequence[Planned]) -> None:
        """After ``batch`` ran: facts its commands touched are dropped, or replaced by what the
        command predicted (unverified); after an opaque command every fact is doubted."""
        cache = self.state.facts
        ran = [p for p in batch if p.executes and p.plan is not None]
        for planned in ran:
            assert planned.plan is not None
            for path in planned.plan.touches:
                cache.touched(path)
            for fact, output in planned.plan.predicts:
                cache.remember(fact, output, verified=False)
        if any(p.opaque for p in ran):
            cache.doubt_all()

