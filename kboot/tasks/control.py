"""Tasks that never touch the host: ``debug``, ``assert``, ``fail`` and ``set_fact``.

They act on variables only, so the runner evaluates them on the workstation between batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kboot.errors import TemplateError
from kboot.tasks.base import Plan, TaskContext, task
from kboot.templating import evaluate, render_value


@dataclass(frozen=True)
class DebugArgs:
    msg: Any = "Hello world!"
    var: str | None = None
    verbosity: int = 0


@task("debug", args=DebugArgs, local=True, raw_fields=("var",))
def debug(args: DebugArgs, ctx: TaskContext) -> Plan:
    """Show a message or a variable's value in the run's output.

    ```yaml
    - debug: {msg: "API at {{ api_endpoint }}"}
    - debug: {var: members.stdout_lines}
    ```
    """
    if args.var is not None:
        try:
            value = evaluate(args.var, ctx.variables)
        except TemplateError:
            value = f"VARIABLE IS NOT DEFINED: {args.var}"
        return Plan(msg=str(value), result={args.var: value})
    return Plan(msg=str(args.msg), result={"msg": args.msg})


@dataclass(frozen=True)
class AssertArgs:
    that: tuple[str, ...]
    fail_msg: str | None = None
    msg: str | None = None
    success_msg: str = "All assertions passed"
    quiet: bool = False


@task("assert", args=AssertArgs, local=True, raw_fields=("that",))
def assert_(args: AssertArgs, ctx: TaskContext) -> Plan:
    """Fail the host unless every expression in ``that`` is true.

    ```yaml
    - assert:
        that:
          - ansible_facts.memtotal_mb >= 1024
          - groups['etcd'] | length is odd
        fail_msg: "etcd needs an odd number of members"
    ```
    """
    for expr in args.that:
        if not evaluate(expr, ctx.variables):
            message = args.fail_msg or args.msg or f"Assertion failed: {expr}"
            return Plan(failed=str(render_value(message, ctx.variables)),
                        result={"assertion": expr, "evaluated_to": False})
    return Plan(msg=args.success_msg)


@dataclass(frozen=True)
class FailArgs:
    msg: str = "Failed as requested from task"


@task("fail", args=FailArgs, local=True)
def fail(args: FailArgs, _ctx: TaskContext) -> Plan:
    """Fail the host with ``msg`` (usually under a ``when``).

    ```yaml
    - fail: {msg: "unsupported distribution {{ ansible_facts.distribution }}"}
      when: ansible_facts.os_family != "Debian"
    ```
    """
    return Plan(failed=args.msg)


@task("set_fact", args=None, local=True)
def set_fact(args: dict[str, Any], _ctx: TaskContext) -> Plan:
    """Set host variables for the rest of the run (above play vars, below extra vars).

    ```yaml
    - set_fact:
        api_endpoint: "https://{{ groups['control_plane'][0] }}:6443"
    ```
    """
    values = {k: v for k, v in args.items() if k != "cacheable"}
    return Plan(set_vars=values, result={"ansible_facts": values})
