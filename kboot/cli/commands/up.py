"""``kboot up``: bring up (or converge) an HA cluster from the hosts of an inventory.

Phases (each visible, each idempotent): preflight → bundle → pki → etcd → control-plane →
loadbalancer → workers → verify. A failed phase stops the run with the host, task, command and
output tail; re-running converges. ``--check --diff`` shows what would change on the hosts and
ends with the restart plan (which kboot services restart on which node, control planes first,
one node at a time).

Exit status with ``--check`` (for CI gates): 0 nothing to do, 2 changes pending, 1 anything
failed (an unreachable host, a failed task, a mistake in the inventory).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kboot.cli.completion import complete, host_patterns
from kboot.cli.guard import add_lock_argument, guarded
from kboot.cli.output import phase_table
from kboot.cli.phases import PhaseRunner
from kboot.cluster.drainroll import (
    DrainSettings,
    drain_settings,
    pending_reader,
    roll_workers,
    rolling_hosts,
)
from kboot.cluster.hooks import is_upgrade, record_deployed, run_hooks
from kboot.cluster.membership import converge_members, engine_run
from kboot.cluster.registry import registry_settings
from kboot.cluster.rollout import RestartStep, restart_plan
from kboot.cluster.topology import Topology, state_dir, topology_from_inventory
from kboot.cluster.up import MembersStep, UpReport, standard_api_steps, up
from kboot.cluster.verify import verify_cluster, verify_unchanged
from kboot.controlplane.client.sync import SyncClient
from kboot.errors import ConfigError, KbootError, UserError
from kboot.inventory import Inventory, load_inventory, select_hosts
from kboot.playbook import PhaseFinished

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot up inventories/prod.yaml
  kboot up inventories/prod.yaml --check --diff       # what would change, changing nothing
  kboot up inventories/prod.yaml --check              # exit 0 nothing to do, 2 changes pending
  kboot up inventories/lab-kboot.yaml --forks 20 -v
  kboot up inventories/prod.yaml --bundle /srv/kboot-bundle   # air-gapped: a prepared bundle
"""


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("up", help="bring up or converge a cluster", description=__doc__,
                              epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inventory", metavar="INVENTORY", help="the cluster's inventory")
    p.add_argument("--check", action="store_true", help="report what would change; change nothing")
    p.add_argument("--diff", action="store_true", help="show file differences")
    complete(p.add_argument("-l", "--limit", metavar="PATTERN", help="only these hosts"),
             host_patterns)
    p.add_argument("-f", "--forks", type=int, default=20, metavar="N",
                   help="hosts in parallel (default 20)")
    p.add_argument("--bundle", type=Path, metavar="DIR",
                   help="bundle directory (default ~/.kboot/bundle, built when missing)")
    p.add_argument("--rebuild-bundle", action="store_true", help="refresh the bundle first")
    p.add_argument("--no-verify", action="store_true", help="skip the verify phase")
    p.add_argument("--no-drain", action="store_true",
                   help="restart the workers' kubelets without cordoning and draining them "
                        "first (overrides cluster.upgrade.drain)")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p.add_argument("-v", "--verbose", action="store_true", help="also list ok and skipped tasks")
    add_lock_argument(p)
    p.set_defaults(func=run)


CHANGES_PENDING = 2
"""``--check``'s exit status when ``kboot up`` would change something (as ``terraform plan
-detailed-exitcode``); every failure then exits 1, so 2 means only this."""


def run(args: argparse.Namespace) -> int:
    if not args.check:
        return _run(args)
    try:
        return _run(args)
    except UserError as exc:  # exit 2 belongs to "changes pending" here
        raise KbootError(str(exc)) from None


def members_step(inventory: Inventory, runner: PhaseRunner, console: Console | None
                 ) -> MembersStep:
    """etcd's membership converged before the etcd phase, through the runner's connections."""
    run = engine_run(inventory, runner.transports)

    def progress(line: str) -> None:
        if console is not None:
            console.print(escape(line), highlight=False)

    def step(cinv: Inventory, topo: Topology) -> None:
        converge_members(cinv, topo, run=run, runner=runner, progress=progress)
    return step


class WorkerRestarts:
    """``kboot up``'s :class:`~kboot.cluster.up.WorkersStep`: the workers drained, restarted
    and uncordoned one at a time (:func:`kboot.cluster.drainroll.roll_workers`) with the
    inventory's drain/uncordon hooks, over the runner's connections."""

    def __init__(self, inventory: Inventory, runner: PhaseRunner, console: Console,
                 settings: DrainSettings, *, limit: str | None) -> None:
        self.inventory, self.runner, self.console = inventory, runner, console
        self.settings = settings
        self.only = select_hosts(inventory, limit) if limit else None
        self.text = runner.output == "text"

    def rolling(self, topo: Topology) -> tuple[str, ...]:
        return rolling_hosts(topo, self.settings)

    def _say(self, event: dict[str, str], line: str) -> None:
        if self.text:
            self.console.print(line, highlight=False, markup=False)
        else:
            self.console.file.write(json.dumps({"kind": "worker_restart", **event}) + "\n")
            self.console.file.flush()

    def __call__(self, cinv: Inventory, topo: Topology, kubeconfig: Path) -> None:
        transports = self.runner.transports

        def hook(event: str, node: str) -> None:
            run_hooks(self.inventory, event, env={"KBOOT_NODE": node},
                      transports_factory=transports)

        def progress(node: str, step: str, detail: str) -> None:
            self._say({"node": node, "step": step, "detail": detail},
                      f"{node}: {step}" + (f" ({detail})" if detail else ""))

        def on_refused(pod: str, why: str) -> None:
            self._say({"node": "", "step": "refused", "detail": f"{pod}: {why}"},
                      f"waiting: eviction of {pod} refused ({why}); retrying until "
                      f"cluster.upgrade.drain_timeout ({self.settings.timeout:g}s)")

        with SyncClient.from_kubeconfig(kubeconfig) as api:
            roll_workers(cinv, topo, api=api, runner=self.runner,
                         pending=pending_reader(cinv, transports_factory=transports),
                         settings=self.settings, hook=hook, progress=progress,
                         on_refused=on_refused, only=self.only)


def _run(args: argparse.Namespace) -> int:
    if args.forks < 1:
        raise ConfigError("--forks must be at least 1")
    inventory = load_inventory(args.inventory, require_groups=("control_plane",))
    console = Console(soft_wrap=True)
    started = time.monotonic()
    runner = PhaseRunner(inventory, console, check=args.check, diff=args.diff, limit=args.limit,
                         forks=args.forks, output=args.output, verbose=args.verbose)

    def on_phase(phase: str, status: str) -> None:
        runner.on_phase(phase, status)
        if args.output == "text" and status == "start":
            console.rule(f"[bold]phase {escape(phase)}")

    verify = None if (args.no_verify or args.check) else verify_cluster
    unchanged = None if verify is None else verify_unchanged  # a no-op run: no smoke pod again
    api_steps = {} if args.check else standard_api_steps()
    topo = topology_from_inventory(inventory)
    state = state_dir(topo.name)
    events = ("up", "upgrade") if is_upgrade(state) else ("up",)
    drain = drain_settings(inventory, no_drain=args.no_drain)
    with runner:
        try:
            # --check changes nothing: no lock to take, no hooks to run
            with (contextlib.nullcontext() if args.check else guarded(
                    inventory, topo, "kboot up", events, console=console,
                    force_unlock=args.force_unlock, transports_factory=runner.transports)):
                report = up(inventory, runner=runner, on_phase=on_phase, bundle_dir=args.bundle,
                            rebuild_bundle=args.rebuild_bundle, api_steps=api_steps,
                            verify=verify, verify_unchanged=unchanged,
                            members=None if args.check else members_step(
                                inventory, runner, console if args.output == "text" else None),
                            workers=None if args.check else WorkerRestarts(
                                inventory, runner, console, drain, limit=args.limit))
            if not args.check:
                record_deployed(state)
        except KbootError:
            if args.output == "text" and runner.phase_times:  # where the time went until then
                console.print(phase_table("kboot up (stopped)", runner.phase_times))
            raise
    if args.check:
        plan = restart_plan(topo, report.changed_tasks,
                            registry=registry_settings(inventory).enabled, drain=drain.drain)
        _print_plan(console, plan, args.output)
    if args.output == "text":
        _summary(console, report, runner.phase_times, time.monotonic() - started,
                 check=args.check)
    return CHANGES_PENDING if args.check and report.changed else 0


def _print_plan(console: Console, plan: Sequence[RestartStep], output: str) -> None:
    """``--check``'s restart plan: which kboot services a run would restart on which node, in
    which order (one node at a time; control planes first), and what it waits for after each."""
    if output == "json":
        steps = [{"host": s.host, "services": list(s.services), "reasons": list(s.reasons),
                  "drain": s.drain, "waits_for": list(s.waits_for)} for s in plan]
        console.file.write(json.dumps({"kind": "restart_plan", "steps": steps}) + "\n")
        console.file.flush()
        return
    if not plan:
        console.print("restart plan: no kboot service would restart")
        return
    table = Table(title="restart plan (one node at a time, in this order)")
    for column in ("#", "host", "drain", "restarts", "why", "then waits for"):
        table.add_column(column)
    for i, s in enumerate(plan, 1):
        table.add_row(str(i), escape(s.host), "cordon, drain" if s.drain else "-",
                      " ".join(s.services), ", ".join(s.reasons),
                      ", ".join(s.waits_for + (("uncordon",) if s.drain else ())) or "-")
    console.print(table)


def _summary(console: Console, report: UpReport, phases: Sequence[PhaseFinished], total: float,
             *, check: bool) -> None:
    changed = {phase: outcome.changed for phase, outcome, _ in report.phases}
    console.print(phase_table("kboot up", phases, changed))
    verb = "would change" if check else "changed"
    what = f"{report.changed} task(s) {verb}" if report.changed else "no changes"
    console.print(f"cluster [bold]{escape(report.topology.name)}[/]: {what} in {total:.1f}s")
    if not check:
        path = escape(str(report.admin_kubeconfig))
        console.print(f"admin kubeconfig: {path}\n"
                      f"  kubectl --kubeconfig {path} get nodes\n"
                      f"  kboot kubeconfig INVENTORY --merge   # into ~/.kube/config")
