"""Turning a unit's plan and its step outcome into Ansible-shaped results: status, the
registered value, ``changed_when``/``failed_when`` verdicts and the reported failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kboot.errors import TemplateError
from kboot.playbook.events import Status, TaskResult
from kboot.playbook.script import StepOutcome
from kboot.playbook.units import Planned, Unit
from kboot.tasks.base import Plan
from kboot.templating import evaluate, render_value


@dataclass
class UnitResult:
    status: Status
    value: dict[str, Any] = field(default_factory=dict)  # what ``register`` keeps
    msg: str = ""
    command: str = ""
    exit_code: int | None = None
    ignored: bool = False


def _output(value: dict[str, Any], outcome: StepOutcome) -> None:
    value.update(rc=outcome.exit_code, stdout=outcome.stdout, stderr=outcome.stderr,
                 stdout_lines=outcome.stdout.splitlines(),
                 stderr_lines=outcome.stderr.splitlines())


def base_result(planned: Planned, outcome: StepOutcome | None) -> UnitResult:
    """The result before ``changed_when``/``failed_when``."""
    unit = planned.unit
    if unit.skipped is not None:
        return UnitResult("skipped", {"skipped": True, "changed": False,
                                      "skip_reason": unit.skipped})
    if planned.error is not None:
        return UnitResult("failed", {"failed": True, "changed": False, "msg": planned.error},
                          msg=planned.error)
    plan = planned.plan
    assert plan is not None
    value: dict[str, Any] = {"changed": False, "failed": False, **plan.result}
    if plan.msg:
        value["msg"] = plan.msg
    if plan.failed:
        value.update(failed=True, msg=plan.failed)
        return UnitResult("failed", value, msg=plan.failed)
    if planned.executes:
        return _executed(plan, value, outcome)
    if plan.commands and unit.check:
        value.update(changed=plan.changed, stdout="", stderr="", stdout_lines=[],
                     stderr_lines=[])
        return UnitResult("changed" if plan.changed else "ok", value, msg="check mode")
    value["changed"] = plan.changed
    if "rc" in plan.result:
        value.setdefault("stdout_lines", str(plan.result.get("stdout", "")).splitlines())
        value.setdefault("stderr_lines", [])
    return UnitResult("changed" if plan.changed else "ok", value, msg=plan.msg)


def _executed(plan: Plan, value: dict[str, Any], outcome: StepOutcome | None) -> UnitResult:
    if outcome is None or not outcome.ran:
        value.update(failed=True, msg="did not run (the batch stopped earlier)")
        return UnitResult("failed", value, msg=value["msg"])
    _output(value, outcome)
    value["cmd"] = " ".join(str(c) for c in plan.commands)
    if outcome.exit_code != 0:
        index = outcome.failed_command
        command = str(plan.commands[index]) if index is not None else value["cmd"]
        value.update(failed=True, changed=False, msg=f"non-zero return code {outcome.exit_code}")
        return UnitResult("failed", value, msg=value["msg"], command=command,
                          exit_code=outcome.exit_code)
    value["changed"] = plan.changes
    return UnitResult("changed" if plan.changes else "ok", value, exit_code=0)


def verdict(exprs: tuple[Any, ...], unit: Unit, value: dict[str, Any]) -> bool:
    variables = dict(unit.variables)
    if unit.task.register:
        variables[unit.task.register] = value
    variables.update(value)  # Ansible also exposes rc/stdout/… directly
    return all(bool(evaluate(e, variables)) for e in exprs)


def apply_conditions(planned: Planned, result: UnitResult) -> UnitResult:
    """Apply ``changed_when``, ``failed_when`` and ``ignore_errors`` (in Ansible's order)."""
    unit = planned.unit
    task = unit.task
    if result.status == "skipped" or planned.error is not None:
        return result
    try:
        if task.changed_when is not None and result.status in ("ok", "changed"):
            changed = verdict(task.changed_when, unit, result.value)
            result.value["changed"] = changed
            result.status = "changed" if changed else "ok"
        if task.failed_when is not None:
            failed = verdict(task.failed_when, unit, result.value)
            result.value["failed"] = failed
            if failed and result.status != "failed":
                result.status, result.msg = "failed", "failed_when condition is true"
            elif not failed and result.status == "failed":
                result.status = "changed" if result.value.get("changed") else "ok"
    except TemplateError as exc:
        result.status, result.msg = "failed", str(exc)
        result.value.update(failed=True, msg=str(exc))
    if result.status == "failed" and task.ignore_errors:
        result.ignored = True
    return result


def _label(unit: Unit) -> Any:
    if unit.task.label is None:
        return unit.item
    try:
        return render_value(unit.task.label, unit.variables)
    except TemplateError:
        return unit.item


def event(planned: Planned, result: UnitResult, host: str, *, handler: bool) -> TaskResult:
    unit, plan = planned.unit, planned.plan
    censored = unit.task.no_log
    stdout = str(result.value.get("stdout", ""))
    stderr = str(result.value.get("stderr", ""))
    return TaskResult(
        host=host,
        task=unit.name,
        action=unit.task.action,
        status=result.status,
        location=str(unit.task.location),
        item=_label(unit) if unit.looped else None,
        msg="(output hidden by no_log)" if censored else result.msg,
        diff=() if plan is None or censored else plan.diff,
        command="" if censored else result.command,
        exit_code=result.exit_code,
        stdout="" if censored else stdout,
        stderr="" if censored else stderr,
        ignored=result.ignored,
        handler=handler,
    )


def aggregate(units_results: list[UnitResult], items: list[Any]) -> dict[str, Any]:
    """The registered value of a looped task: ``results`` plus overall flags."""
    results = [{**r.value, "item": item} for r, item in zip(units_results, items, strict=True)]
    return {
        "results": results,
        "changed": any(r.value.get("changed") for r in units_results),
        "failed": any(r.status == "failed" and not r.ignored for r in units_results),
        "skipped": all(r.status == "skipped" for r in units_results),
        "msg": "All items completed",
    }


def task_status(results: list[UnitResult]) -> Status:
    statuses = [r.status for r in results]
    if any(s == "failed" and not r.ignored for s, r in zip(statuses, results, strict=True)):
        return "failed"
    if "changed" in statuses:
        return "changed"
    if statuses and all(s == "skipped" for s in statuses):
        return "skipped"
    return "ok"
