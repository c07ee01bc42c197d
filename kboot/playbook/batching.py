"""Planning one batch: which units share one exec, each planned on the facts valid at its turn.

:func:`plan_batch` is a pure function of the units, the fact cache (read only) and a planner:
it returns a :class:`BatchPlan` value and changes nothing, so the host executes exactly what
was planned and a re-plan after a failed guard starts from the same units.

A unit reading a fact that an earlier unit of the batch changes is planned on that unit's
*prediction* of it (else on the fact as it was). Units planned on anything not known to hold
(a prediction, a touched or unverified fact, any fact after an *opaque* command of this batch)
are *guarded*: their step re-checks those facts on the host and, if one differs, stops the
batch there and prints them fresh for the re-plan. A guarded unit whose plan fails is still
sent (the failure stands only if its guard holds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kboot.facts.base import Fact
from kboot.facts.batch import expectation, guard_condition
from kboot.playbook.factcache import FactCache
from kboot.playbook.link import env_strings
from kboot.playbook.script import Step
from kboot.playbook.units import Planned, Unit
from kboot.templating import render_value

Overlay = Mapping[str, tuple[Fact[Any], str]]
"""Facts an earlier unit of the batch predicts, by key: the fact and the output it will print."""
Planner = Callable[[Unit, Overlay], Planned]
"""Plans one undecided unit on the cached facts, overlaid with predictions."""


@dataclass(frozen=True)
class BatchPlan:
    """The units of one exec, in order, and whether it runs with ``become`` (``None``: no unit
    touches the host)."""

    units: tuple[Planned, ...]
    become: bool | None = None


@dataclass
class _Changes:
    """What the units planned so far will have done once their commands ran."""

    touched: list[str] = field(default_factory=list)
    opaque: bool = False
    predicted: dict[str, tuple[Fact[Any], str]] = field(default_factory=dict)

    def add(self, planned: Planned) -> None:
        plan = planned.plan
        assert plan is not None
        self.touched.extend(plan.touches)
        self.opaque = self.opaque or planned.opaque
        for path in plan.touches:
            for key in [k for k, (f, _) in self.predicted.items() if f.stale_after(path)]:
                del self.predicted[key]
        self.predicted.update({f.key: (f, out) for f, out in plan.predicts})


def plan_batch(units: Sequence[Unit], cache: FactCache, planner: Planner) -> BatchPlan:
    """Plan units in order for one exec (see the module docstring). The first unit is always
    taken; the batch ends before a unit with another ``become`` or a retried (``until``) one,
    and after a failed unit, a ``failed_when`` task's last item or a retried unit."""
    batch: list[Planned] = []
    changes = _Changes()
    become: bool | None = None
    for unit in units:
        if unit.task.until is not None and batch:  # retried units run in their own batch
            break
        planned = unit.planned() if unit.decided else _plan_one(unit, cache, planner, changes)
        if planned.executes or planned.guarded:
            if become is not None and unit.become != become:
                break
            become = unit.become
        if planned.executes:
            changes.add(planned)
        batch.append(planned)
        if _ends_batch(planned):
            break
    return BatchPlan(tuple(batch), become)


def _plan_one(unit: Unit, cache: FactCache, planner: Planner, changes: _Changes) -> Planned:
    touched = changes.touched
    changed = [f for f in unit.facts if any(f.stale_after(p) for p in touched)]
    overlay = {f.key: changes.predicted[f.key] for f in changed if f.key in changes.predicted}
    planned = planner(unit, overlay)
    doubtful = changes.opaque or bool(changed) or cache.doubtful(unit.facts)
    if not (doubtful and unit.facts):
        return planned
    expected = tuple((f, expectation(overlay[f.key][1]) if f.key in overlay
                      else cache.digest(f.key)) for f in unit.facts)
    return Planned(unit, planned.plan, planned.error, guarded=True, expected=expected)


def _ends_batch(planned: Planned) -> bool:
    unit = planned.unit
    if planned.failed or unit.task.until is not None:
        return True
    return planned.executes and unit.task.failed_when is not None and unit.last_of_task


def steps(batch: Sequence[Planned], environment: Mapping[str, Any]) -> list[Step]:
    """The script steps of a batch: one per unit that runs commands or re-checks its facts.
    ``environment`` is the play's; a task's own is rendered over it."""
    out: list[Step] = []
    running = [i for i, p in enumerate(batch) if p.executes or p.guarded]
    for index in running:
        planned = batch[index]
        unit, plan = planned.unit, planned.plan  # no plan: a guarded unit that failed to plan
        later_same_task = any(batch[j].unit.task is unit.task for j in running if j > index)
        env = {**environment, **unit.task.environment}
        guard = guard_condition(list(planned.expected)) if planned.guarded else ""
        commands = plan.commands if plan is not None and planned.executes else ()
        out.append(Step(index, commands,
                        env_strings(render_value(env, unit.variables) if env else {}),
                        may_fail=unit.task.ignore_errors or unit.task.failed_when is not None,
                        group_end=not later_same_task, guard=guard,
                        isolate=(plan is not None and plan.opaque) or bool(env),
                        refresh=tuple(unit.facts) if planned.guarded else ()))
    return out
