"""``wait_for``: wait on the host until a port listens (or stops), or a path appears (or goes).

When the gathered facts already show the condition holds, no command is sent at all; otherwise
the wait is a small shell loop on the host, so it costs one round trip however long it waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from kboot.facts.base import Fact, quote
from kboot.facts.files import file_stat
from kboot.facts.services import listening_ports
from kboot.tasks.base import Command, Plan, TaskContext, task

_LOCAL = ("127.0.0.1", "localhost", "0.0.0.0", "::", "::1", "")


@dataclass(frozen=True)
class WaitForArgs:
    port: int | None = None
    host: str = "127.0.0.1"
    path: str | None = None
    state: Literal["started", "stopped", "present", "absent"] = "started"
    timeout: int = 300
    delay: int = 0
    sleep: int = 1
    search_regex: str | None = None
    msg: str | None = None


def _needs(args: WaitForArgs, _ctx: TaskContext) -> list[Fact[Any]]:
    if args.path:
        return [file_stat(args.path)]
    if args.port and args.host in _LOCAL:
        return [listening_ports()]
    return []


def _holds(args: WaitForArgs, ctx: TaskContext) -> bool:
    """Whether the gathered facts already satisfy the wait (only when no delay is asked)."""
    if args.delay or args.search_regex:
        return False
    if args.path:
        exists = ctx.fact(file_stat(args.path)).exists
        return exists == (args.state in ("started", "present"))
    if args.port and args.host in _LOCAL:
        ports = {listener.port for listener in ctx.fact(listening_ports())
                 if listener.proto == "tcp"}
        return (args.port in ports) == (args.state in ("started", "present"))
    return False


def _probe(args: WaitForArgs) -> str:
    if args.path:
        probe = f"[ -e {quote(args.path)} ]"
        if args.search_regex:
            probe = f"grep -Eq {quote(args.search_regex)} {quote(args.path)} 2>/dev/null"
    else:
        probe = f"bash -c {quote(f'exec 3<>/dev/tcp/{args.host}/{args.port}')} 2>/dev/null"
    return probe if args.state in ("started", "present") else f"! {probe}"


@task("wait_for", args=WaitForArgs, needs=_needs)
def wait_for(args: WaitForArgs, ctx: TaskContext) -> Plan:
    """Wait until ``port`` on ``host`` accepts connections (``state: stopped``: refuses them),
    or ``path`` exists (optionally containing ``search_regex``; ``absent``: is gone), at most
    ``timeout`` seconds. Without port or path it just sleeps ``timeout`` seconds. Never
    reports a change.

    ```yaml
    - wait_for: {port: 2379, timeout: 60}
    - wait_for: {path: /var/lib/kboot/ready, search_regex: "^ok$"}
    ```
    """
    if args.port is None and args.path is None:
        return Plan((Command(f"sleep {int(args.timeout)}"),), changes=False)
    if _holds(args, ctx):
        return Plan()
    message = args.msg or (f"timeout after {args.timeout}s waiting for "
                           f"{args.path or f'{args.host}:{args.port}'} to be {args.state}")
    delay = f"sleep {int(args.delay)}; " if args.delay else ""
    # no `exit`: kboot's own commands share the batch script's shell (a timeout fails this
    # step only, with its message, instead of ending the script unreported)
    script = (f"{delay}kb_end=$(( $(date +%s) + {int(args.timeout)} )); kb_late=0; "
              f"until {_probe(args)}; do "
              f"if [ $(date +%s) -ge $kb_end ]; then echo {quote(message)} >&2; kb_late=1; "
              f"break; fi; sleep {int(args.sleep)}; done; [ $kb_late -eq 0 ]")
    display = f"wait for {args.path or f'{args.host}:{args.port}'} to be {args.state}"
    return Plan((Command(script, display=display),), changes=False)
