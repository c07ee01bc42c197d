"""Recording a batch's results on one host: one event per unit, then per task its status,
``register``, ``notify`` and the counters; a failed task ends the host. Loop items of one task
may span batches: their results are carried until the task's last item is recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kboot.playbook.link import HostDown, HostLink
from kboot.playbook.results import (
    UnitResult,
    aggregate,
    apply_conditions,
    base_result,
    event,
    task_status,
)
from kboot.playbook.scope import HostScope
from kboot.playbook.script import StepOutcome
from kboot.playbook.state import RunState
from kboot.playbook.units import Planned


class Recorder:
    def __init__(self, run: RunState, link: HostLink, scope: HostScope) -> None:
        self.run = run
        self.state = link.state
        self.link = link
        self.scope = scope
        self.handler = False  # running handlers: their events say so
        self._carry: list[tuple[Planned, UnitResult]] = []

    def record(self, batch: Sequence[Planned], outcomes: Mapping[int, StepOutcome],
               errors: Mapping[int, str]) -> int:
        """Record results in order; returns how many units are done (a stale guard stops it:
        that unit and the rest are planned again with fresh facts). ``errors`` fail units
        whatever their outcome (a template error in ``until``)."""
        pending, self._carry = self._carry, []
        for index, planned in enumerate(batch):
            outcome = outcomes.get(index)
            if outcome is not None and outcome.stale:
                self._carry = pending  # earlier loop items of this task ran: keep their results
                return index
            result = apply_conditions(planned, base_result(planned, outcome))
            if index in errors:
                _fail(result, errors[index], ignore=planned.unit.task.ignore_errors)
            pending.append((planned, result))
            if planned.unit.last_of_task:
                for done_unit, done in pending:
                    self.run.emit(event(done_unit, done, self.state.name, handler=self.handler))
                self.finish_task(pending)
                pending = []
        self._carry = pending  # a task whose loop items continue in the next batch
        return len(batch)

    def finish_task(self, pending: list[tuple[Planned, UnitResult]]) -> None:
        unit = pending[-1][0].unit
        task = unit.task
        results = [r for _, r in pending]
        status = task_status(results)
        if any(p.unit.looped for p, _ in pending):
            value = aggregate(results, [p.unit.item for p, _ in pending])
        else:
            value = results[0].value
        if task.register:
            self.scope.set_runtime({task.register: value})
        if status == "changed":
            for name in task.notify:
                if name not in self.state.notified:
                    self.state.notified.append(name)
        self.state.count(status)
        if any(r.ignored for r in results):
            self.state.count("ignored")
        if status == "failed":
            bad = next(r for r in results if r.status == "failed" and not r.ignored)
            output = str(bad.value.get("stderr") or bad.value.get("stdout") or "")
            if task.no_log:
                bad.msg, bad.command, output = "(output hidden by no_log)", "(hidden)", ""
            self.link.fail(unit.name, message=bad.msg, command=bad.command,
                           exit_code=bad.exit_code, location=str(task.location),
                           output=output, counted=True)
            raise HostDown


def _fail(result: UnitResult, message: str, *, ignore: bool) -> None:
    result.status, result.msg = "failed", message
    result.value.update(failed=True, msg=message)
    result.ignored = ignore
