"""Admission webhooks' ``matchConditions``: CEL expressions that decide whether a webhook that
matched by its rules and selectors is called, as upstream (``admission/plugin/webhook/
matchconditions``).

Each condition has a ``name`` (a qualified name, unique in the webhook) and an ``expression``
over ``object``, ``oldObject`` (null when absent) and ``request`` (the ``AdmissionRequest``:
``kind``, ``resource``, ``subResource``, ``operation``, ``name``, ``namespace``, ``userInfo``,
``dryRun``...). At most 64 per webhook. Expressions compile with the same evaluator and
function library as CRD validation rules (:mod:`kboot.controlplane.api.crd.cel`); one that
uses ``authorizer`` (upstream's authorization checks) is refused on write, as kboot does not
offer it, rather than evaluated wrongly.

:func:`evaluate` follows upstream: every condition true → call the webhook; any false → skip
it (even when another errored); otherwise an error → the webhook's ``failurePolicy`` decides
(the caller's job: :class:`Outcome` ``error``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cel

from kboot.controlplane.api import names
from kboot.controlplane.api.crd.cel import FUNCTIONS, compile_expression
from kboot.controlplane.api.crd.celvalues import cel_value
from kboot.controlplane.api.field_errors import (
    FieldError,
    duplicate,
    invalid,
    required,
    too_many,
)

MAX_CONDITIONS = 64
_AUTHORIZER = re.compile(r"\bauthorizer\b")


@dataclass(frozen=True)
class Condition:
    name: str
    expression: str
    program: Any


@dataclass(frozen=True)
class Outcome:
    """``call``: every condition held; else ``error`` names the failure (None: skipped)."""

    call: bool
    error: str | None = None


def _compile(expression: str) -> tuple[Any, str | None]:
    if _AUTHORIZER.search(expression):
        return None, ("the authorizer variable is not supported by kboot's apiserver; "
                      "match with rules, selectors, object and request instead")
    return compile_expression(expression)


def condition_errors(raw: Any, path: str) -> list[FieldError]:
    """Validation of a webhook's ``matchConditions`` (upstream's paths and messages)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        return [invalid(path, raw, "must be a list")]
    errors: list[FieldError] = []
    if len(raw) > MAX_CONDITIONS:
        errors.append(too_many(path, len(raw), MAX_CONDITIONS))
    seen: set[str] = set()
    for i, item in enumerate(raw):
        base = f"{path}[{i}]"
        if not isinstance(item, dict):
            errors.append(invalid(base, item, "must be an object"))
            continue
        name, expression = item.get("name"), item.get("expression")
        if not name:
            errors.append(required(f"{base}.name"))
        else:
            errors += [invalid(f"{base}.name", name, p)
                       for p in names.is_qualified_name(str(name))]
            if name in seen:
                errors.append(duplicate(f"{base}.name", name))
            seen.add(str(name))
        if not expression:
            errors.append(required(f"{base}.expression"))
        elif not isinstance(expression, str):
            errors.append(invalid(f"{base}.expression", expression, "must be a string"))
        else:
            problem = _compile(expression)[1]
            if problem:
                errors.append(invalid(f"{base}.expression", expression, problem))
    return errors


def compile_conditions(raw: Any) -> tuple[Condition, ...]:
    """The compiled conditions of a stored webhook (validated on write; ValueError if not)."""
    out = []
    for item in raw or ():
        program, problem = _compile(str(item.get("expression") or ""))
        if problem:
            raise ValueError(problem)
        out.append(Condition(str(item.get("name") or ""), str(item["expression"]), program))
    return tuple(out)


def evaluate(conditions: tuple[Condition, ...], variables: Mapping[str, Any]) -> Outcome:
    """Upstream's order of verdicts: false beats error beats true."""
    context = cel.Context(variables={k: cel_value(v, {}) for k, v in variables.items()},
                          functions=FUNCTIONS)
    error: str | None = None
    for condition in conditions:
        try:
            result = condition.program.execute(context)
        except Exception as exc:  # the evaluator raises many types: all are evaluation errors
            error = error or f"matchCondition {condition.name!r} failed to evaluate: {exc}"
            continue
        if result is False:
            return Outcome(call=False)
        if result is not True:
            error = error or (f"matchCondition {condition.name!r} returned a non-boolean "
                              f"value: {result!r}")
    return Outcome(call=error is None, error=error)
