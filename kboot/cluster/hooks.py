"""Inventory hooks: the operator's own commands before and after kboot's day-2 operations.

``cluster.hooks`` (checked by :mod:`kboot.inventory.clustersettings`) maps events such as
``before_up`` to a list of hooks; each runs on the workstation (a local ``/bin/sh`` command) or
on the hosts matching ``hosts`` (one SSH round trip, all matching hosts in parallel). Hooks of one
event run in the order written, and the first failure stops the operation with a
:class:`HookError` naming the event, the hook and where it failed — a hook is a gate (e.g.
"take the node out of the external load balancer first"), so going on would defeat it.

Every hook sees ``KBOOT_EVENT``, ``KBOOT_CLUSTER``, ``KBOOT_INVENTORY`` and the event's own
values (``KBOOT_NODE`` for drain/uncordon) in its environment.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kboot import __version__
from kboot.cluster.exec import HostOutput, run_on_hosts
from kboot.errors import ClusterError
from kboot.inventory import Inventory, select_hosts
from kboot.inventory.clustersettings import HOOK_EVENTS, WORKSTATION
from kboot.playbook.state import TransportFactory

DEPLOYED_FILE = "deployed-version"  # in the state directory: the kboot that last converged
TAIL = 800  # characters of a failed hook's output in the error


class HookError(ClusterError):
    """A hook failed; the operation stopped before (or after) its work."""


@dataclass(frozen=True)
class Hook:
    event: str
    index: int
    name: str
    run: str
    hosts: str
    become: bool
    timeout: float

    @property
    def label(self) -> str:
        return f"hook {self.event}[{self.index}] {self.name!r}"


HookCallback = Callable[[Hook, str], None]  # (hook, "start"|"ok"|"failed")


def hooks_for(inventory: Inventory, event: str) -> list[Hook]:
    if event not in HOOK_EVENTS:
        raise ValueError(f"unknown hook event {event!r}")
    hooks: Mapping[str, list[dict[str, Any]]] = inventory.cluster.get("hooks") or {}
    return [Hook(event, i, str(h["name"]), str(h["run"]), str(h["hosts"]), bool(h["become"]),
                 float(h["timeout"])) for i, h in enumerate(hooks.get(event) or ())]


def _tail(text: str) -> str:
    text = text.strip()
    return ("…" + text[-TAIL:]) if len(text) > TAIL else text


def _local(hook: Hook, env: Mapping[str, str]) -> None:
    try:
        done = subprocess.run(hook.run, shell=True, env={**os.environ, **env},
                              capture_output=True, text=True, timeout=hook.timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise HookError(f"{hook.label} (on the workstation) did not finish within "
                        f"{hook.timeout:g}s; the run stopped") from None
    if done.returncode != 0:
        raise HookError(f"{hook.label} (on the workstation) failed with exit code "
                        f"{done.returncode}; the run stopped:\n  "
                        + _tail(done.stderr or done.stdout).replace("\n", "\n  "))


def _remote(hook: Hook, inventory: Inventory, env: Mapping[str, str],
            transports_factory: TransportFactory | None) -> None:
    hosts = select_hosts(inventory, hook.hosts)
    if not hosts:
        raise HookError(f"{hook.label}: 'hosts: {hook.hosts}' matches no host of "
                        f"{inventory.source}")
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    command = f"export {exports}; {hook.run}" if exports else hook.run
    outputs = run_on_hosts(inventory, dict.fromkeys(hosts, command), become=hook.become,
                           transports_factory=transports_factory)
    failed: list[HostOutput] = [o for o in outputs.values() if not o.ok]
    if failed:
        lines = [f"{o.host}: " + (f"exit code {o.exit_code}: " if o.exit_code is not None
                                  else f"{o.status}: ") + _tail(o.stderr or o.stdout or o.message)
                 for o in failed]
        raise HookError(f"{hook.label} (on {hook.hosts}) failed on {len(failed)} of {len(hosts)} "
                        "host(s); the run stopped:\n  " + "\n  ".join(lines))


def run_hooks(inventory: Inventory, event: str, *, env: Mapping[str, str] | None = None,
              transports_factory: TransportFactory | None = None,
              on_hook: HookCallback | None = None) -> int:
    """Run ``event``'s hooks in order; raise :class:`HookError` at the first failure.
    Returns how many ran."""
    hooks = hooks_for(inventory, event)
    full_env = {"KBOOT_EVENT": event, "KBOOT_CLUSTER": str(inventory.cluster.get("name", "")),
                "KBOOT_INVENTORY": str(inventory.source), **(env or {})}
    for hook in hooks:
        if on_hook:
            on_hook(hook, "start")
        try:
            if hook.hosts == WORKSTATION:
                _local(hook, full_env)
            else:
                _remote(hook, inventory, full_env, transports_factory)
        except HookError:
            if on_hook:
                on_hook(hook, "failed")
            raise
        if on_hook:
            on_hook(hook, "ok")
    return len(hooks)


def is_upgrade(state: Path, version: str = __version__) -> bool:
    """True when another kboot version converged this cluster last (``upgrade`` hooks run)."""
    path = state / DEPLOYED_FILE
    try:
        deployed = path.read_text().strip()
    except FileNotFoundError:
        return False
    return bool(deployed) and deployed != version


def record_deployed(state: Path, version: str = __version__) -> None:
    state.mkdir(parents=True, exist_ok=True)
    (state / DEPLOYED_FILE).write_text(version + "\n")
