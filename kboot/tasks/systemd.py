"""The ``systemd`` / ``service`` task: unit state, enablement, masking and daemon-reload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from kboot.facts.base import Fact, quote
from kboot.facts.services import UnitState, systemd_unit
from kboot.tasks.base import Command, Plan, TaskContext, task


@dataclass(frozen=True)
class SystemdArgs:
    ALIASES: ClassVar[dict[str, str]] = {"service": "name", "unit": "name",
                                         "daemon-reload": "daemon_reload"}
    name: str | None = None
    state: Literal["started", "stopped", "restarted", "reloaded"] | None = None
    enabled: bool | None = None
    masked: bool | None = None
    daemon_reload: bool = False
    scope: Literal["system"] = "system"
    no_block: bool = False


def _needs(args: SystemdArgs, _ctx: TaskContext) -> list[Fact[Any]]:
    return [systemd_unit(args.name)] if args.name else []


def _state_commands(args: SystemdArgs, unit: str, state: UnitState) -> list[str]:
    u = quote(unit)
    commands = []
    if args.masked is True and state.unit_file_state != "masked":
        commands.append(f"systemctl mask {u}")
    if args.masked is False and state.unit_file_state == "masked":
        commands.append(f"systemctl unmask {u}")
    if args.enabled is True and not state.enabled:
        commands.append(f"systemctl enable {u}")
    if args.enabled is False and state.enabled and state.unit_file_state != "static":
        commands.append(f"systemctl disable {u}")
    block = " --no-block" if args.no_block else ""
    if args.state == "started" and not state.active:
        commands.append(f"systemctl start{block} {u}")
    elif args.state == "stopped" and state.active:
        commands.append(f"systemctl stop{block} {u}")
    elif args.state == "restarted":
        commands.append(f"systemctl restart{block} {u}")
    elif args.state == "reloaded":
        verb = "reload" if state.active else "start"
        commands.append(f"systemctl {verb}{block} {u}")
    return commands


@task("systemd", args=SystemdArgs, needs=_needs, aliases=("service", "systemd_service"))
def systemd(args: SystemdArgs, ctx: TaskContext) -> Plan:
    """Converge a systemd unit: ``state`` (started/stopped/restarted/reloaded), ``enabled``,
    ``masked``. ``daemon_reload: true`` reloads systemd first when a unit file changed since it
    was loaded (or the unit is not loaded yet), or always when no ``name`` is given.
    ``restarted`` and ``reloaded`` act on every run, as in Ansible (use them in handlers).

    ```yaml
    - systemd:
        name: kboot-apiserver
        state: started
        enabled: true
        daemon_reload: true
    ```
    """
    if not args.name:
        commands = ["systemctl daemon-reload"] if args.daemon_reload else []
        return Plan(tuple(Command(c) for c in commands), changes=False, touches=("/run/systemd",))
    unit = args.name if "." in args.name else f"{args.name}.service"
    state = ctx.fact(systemd_unit(args.name))
    commands = _state_commands(args, unit, state)
    if args.daemon_reload and (state.need_daemon_reload or not state.exists):
        commands.insert(0, "systemctl daemon-reload")
    result = {"name": unit, "state": args.state, "status": {"ActiveState": state.active_state}}
    return Plan(tuple(Command(c) for c in commands), touches=("/run/systemd",), result=result)
