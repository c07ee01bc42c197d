"""Expanding a task into *units* for one host: one per loop item, with its variables, ``when``
verdict, rendered and bound arguments and the facts it needs. Local tasks (``debug``,
``assert``, ``set_fact``) are planned right here; remote ones are planned once facts arrive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kboot.errors import PlaybookError, TemplateError
from kboot.facts.base import Fact
from kboot.playbook.model import TaskSpec
from kboot.playbook.variables import OMIT
from kboot.tasks.args import ArgError, bind
from kboot.tasks.base import Plan, SourceFiles, TaskContext, TaskDef
from kboot.tasks.files import ModeError
from kboot.tasks.registry import lookup
from kboot.templating import evaluate, render_string, render_value

PLAN_ERRORS = (PlaybookError, TemplateError, ArgError, ModeError, OSError, UnicodeDecodeError)


@dataclass
class Unit:
    """One task (or one loop item of it) on one host."""

    task: TaskSpec
    name: str
    variables: dict[str, Any]
    definition: TaskDef | None = None
    args: Any = None
    item: Any = None
    looped: bool = False
    last_of_task: bool = True
    become: bool = False
    check: bool = False
    facts: list[Fact[Any]] = field(default_factory=list)
    skipped: str | None = None  # why it does not run (``when`` false)
    error: str | None = None  # failed before running (bad args, undefined variable …)
    plan: Plan | None = None  # a local task's plan, made while expanding

    @property
    def decided(self) -> bool:
        """Whether the outcome is known without touching the host."""
        return self.skipped is not None or self.error is not None or (
            self.definition is not None and self.definition.local)

    def planned(self) -> Planned:
        """A decided unit as planned (it needs no facts)."""
        return Planned(self, self.plan, self.error)


@dataclass(frozen=True)
class Planned:
    """A unit with its plan for one batch (or why it could not be planned). A *guarded* unit
    was planned on facts not known to hold: its step first re-checks that the host still
    prints the ``expected`` outputs."""

    unit: Unit
    plan: Plan | None
    error: str | None = None
    guarded: bool = False
    expected: tuple[tuple[Fact[Any], str], ...] = ()

    @property
    def executes(self) -> bool:
        return self.plan is not None and bool(self.plan.commands) and not self.unit.check

    @property
    def failed(self) -> bool:
        return self.error is not None or (self.plan is not None and self.plan.failed is not None)

    @property
    def opaque(self) -> bool:
        """Whether the unit's commands may change anything. ``changed_when: false`` declares a
        command read-only, so it does not invalidate facts (Ansible users write it for
        probes)."""
        changed_when = self.unit.task.changed_when
        read_only = changed_when is not None and all(
            c is False or (isinstance(c, str) and c.strip().lower() == "false")
            for c in changed_when)
        return self.plan is not None and self.plan.opaque and not read_only


def loop_items(task: TaskSpec, variables: Mapping[str, Any]) -> list[Any] | None:
    if task.loop is None:
        return None
    spec = task.loop
    kind = "list"
    if isinstance(spec, Mapping) and "__kboot_loop__" in spec:
        kind, spec = spec["__kboot_loop__"], spec["value"]
    value = render_value(spec, variables)
    if kind == "dict":
        if not isinstance(value, Mapping):
            raise TemplateError("with_dict needs a mapping")
        return [{"key": k, "value": v} for k, v in value.items()]
    if isinstance(value, str):
        value = [value] if kind == "items" else None
    if not isinstance(value, list | tuple):
        raise TemplateError(f"loop needs a list, got {type(value).__name__}")
    if kind == "items":
        flat: list[Any] = []
        for item in value:
            flat.extend(item if isinstance(item, list | tuple) else [item])
        return flat
    return list(value)


def _render_args(definition: TaskDef, raw: Mapping[str, Any],
                 variables: Mapping[str, Any]) -> dict[str, Any]:
    rendered: dict[str, Any] = {}
    for key, value in raw.items():
        out = value if key in definition.raw_fields else render_value(value, variables)
        if out != OMIT:
            rendered[key] = out
    return rendered


@dataclass(frozen=True)
class Expander:
    """Turns tasks into units for one host (``base`` is the host's variable scope)."""

    host: str
    play_become: bool
    check: bool
    diff: bool
    search_paths: tuple[Any, ...]
    sources: SourceFiles = field(default_factory=SourceFiles)  # the run's, shared by its hosts

    def context(self, unit: Unit, facts: Mapping[str, Any] | None = None,
                identity: tuple[str, str] | None = None) -> TaskContext:
        paths = tuple(dict.fromkeys((unit.task.basedir, *self.search_paths)))
        return TaskContext(self.host, facts or {}, unit.check, self.diff, unit.variables, paths,
                           identity, self.sources)

    def expand(self, task: TaskSpec, base: Mapping[str, Any],
               overrides: Mapping[str, Any] | None = None) -> list[Unit]:
        """Units of ``task``; ``overrides`` (registered, set_fact, extra vars) outrank the
        task's own ``vars``."""
        self_overrides = overrides or {}
        try:
            items = loop_items(task, base)
        except TemplateError as exc:
            return [Unit(task, task.name, dict(base), error=f"loop: {exc}")]
        if items is None:
            return [self._unit(task, base, None, looped=False, index=0,
                               overrides=self_overrides)]
        units = [self._unit(task, base, item, looped=True, index=i, overrides=self_overrides)
                 for i, item in enumerate(items)]
        for unit in units[:-1]:
            unit.last_of_task = False
        if not units:
            return [Unit(task, task.name, dict(base), skipped="no loop items")]
        return units

    def _unit(self, task: TaskSpec, base: Mapping[str, Any], item: Any, *, looped: bool,
              index: int, overrides: Mapping[str, Any]) -> Unit:
        variables = dict(base)
        if looped:
            variables[task.loop_var] = item
            variables["ansible_loop_var"] = task.loop_var
            if task.index_var:
                variables[task.index_var] = index
        unit = Unit(task, task.name, variables, item=item, looped=looped)
        unit.become = task.become if task.become is not None else self.play_become
        unit.check = task.check_mode if task.check_mode is not None else self.check
        try:
            for key, value in task.vars.items():
                if key not in overrides:
                    variables[key] = render_value(value, variables)
            unit.name = render_string(task.name, variables) if task.named else task.name
            if not all(evaluate(cond, variables) for cond in task.when):
                unit.skipped = "conditional result was False"
                return unit
            self._bind(unit)
        except PLAN_ERRORS as exc:
            unit.error = str(exc)
        return unit

    def _bind(self, unit: Unit) -> None:
        definition = lookup(unit.task.action)
        if definition is None:  # pragma: no cover - rejected at load time
            raise PlaybookError(f"unknown task {unit.task.action!r}")
        unit.definition = definition
        raw = _render_args(definition, unit.task.args, unit.variables)
        unit.args = raw if definition.args is None else bind(definition.args, raw)
        ctx = self.context(unit)
        if definition.local:
            unit.plan = definition.plan(unit.args, ctx)
        else:
            unit.facts = list(definition.needs(unit.args, ctx))
