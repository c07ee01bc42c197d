"""``kboot up``: bring up (or converge) an HA cluster from the hosts of an inventory.

Phases (each visible, each idempotent): preflight → bundle → pki → etcd → control-plane →
loadbalancer → workers → verify. A failed phase stops the run with the host, task, command and
output tail; re-running converges. ``--check --diff`` shows what would change on the hosts.
"""

from __future__ import annotations

import argparse
import getpass
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from kboot.cli.output import JsonRenderer, TextRenderer
from kboot.cluster.resources import templates_dir
from kboot.cluster.up import PhaseOutcome, UpReport, up
from kboot.cluster.verify import verify_cluster
from kboot.errors import ConfigError
from kboot.inventory import Host, Inventory, load_inventory
from kboot.playbook import default_transports, run_playbook
from kboot.transport.base import Transport

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot up inventories/prod.yaml
  kboot up inventories/prod.yaml --check --diff       # what would change, changing nothing
  kboot up inventories/lab-kboot.yaml --forks 20 -v
  kboot up inventories/prod.yaml --bundle /srv/kboot-bundle   # air-gapped: a prepared bundle
"""


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("up", help="bring up or converge a cluster", description=__doc__,
                              epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inventory", metavar="INVENTORY", help="the cluster's inventory")
    p.add_argument("--check", action="store_true", help="report what would change; change nothing")
    p.add_argument("--diff", action="store_true", help="show file differences")
    p.add_argument("-l", "--limit", metavar="PATTERN", help="only these hosts")
    p.add_argument("-f", "--forks", type=int, default=20, metavar="N",
                   help="hosts in parallel (default 20)")
    p.add_argument("--bundle", type=Path, metavar="DIR",
                   help="bundle directory (default ~/.kboot/bundle, built when missing)")
    p.add_argument("--rebuild-bundle", action="store_true", help="refresh the bundle first")
    p.add_argument("--no-verify", action="store_true", help="skip the verify phase")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p.add_argument("-v", "--verbose", action="store_true", help="also list ok and skipped tasks")
    p.set_defaults(func=run)


class _Connections:
    """One transport per host for the whole run: phases reuse connections (closed at the end)."""

    def __init__(self, opener: Callable[[Host], Transport]) -> None:
        self._open = opener
        self._lock = threading.Lock()
        self._transports: dict[str, Transport] = {}

    def __call__(self, host: Host) -> Transport:
        with self._lock:
            if host.name not in self._transports:
                self._transports[host.name] = self._open(host)
            return _Borrowed(self._transports[host.name])

    def close(self) -> None:
        for t in self._transports.values():
            t.close()


class _Borrowed:
    """A transport whose ``close`` is the owner's business (the runner closes what it used)."""

    def __init__(self, inner: Transport) -> None:
        self._inner = inner
        self.host = inner.host

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def close(self) -> None:
        return None


def run(args: argparse.Namespace) -> int:
    if args.forks < 1:
        raise ConfigError("--forks must be at least 1")
    inventory = load_inventory(args.inventory, require_groups=("control_plane",))
    console = Console(soft_wrap=True)
    conns = _Connections(default_transports(inventory, prompt=getpass.getpass))
    started = time.monotonic()

    def runner(playbook: Path, inventory: Inventory, *, phase: str) -> PhaseOutcome:
        renderer: TextRenderer | JsonRenderer = (
            JsonRenderer(console) if args.output == "json"
            else TextRenderer(console, show_diff=args.diff, verbose=args.verbose))
        try:
            summary = run_playbook(playbook, inventory, transports_factory=conns, check=args.check,
                                   diff=args.diff, limit=args.limit, forks=args.forks,
                                   on_event=renderer, search_paths=[templates_dir()])
        finally:
            renderer.close()
        failures = tuple(f"{f.host}: {f.task}: {f.message or f.output}".strip()
                         for f in summary.failures)
        if summary.aborted:
            failures += (summary.aborted,)
        changed = sum(r.changed for r in summary.results.values())
        return PhaseOutcome(ok=summary.ok, changed=changed, failures=failures)

    def on_phase(phase: str, status: str) -> None:
        if args.output == "text" and status == "start":
            console.rule(f"[bold]phase {phase}")

    verify = None if (args.no_verify or args.check) else verify_cluster
    try:
        report = up(inventory, runner=runner, on_phase=on_phase, bundle_dir=args.bundle,
                    rebuild_bundle=args.rebuild_bundle, verify=verify)
    finally:
        conns.close()
    if args.output == "text":
        _summary(console, report, time.monotonic() - started, check=args.check)
    return 0


def _summary(console: Console, report: UpReport, total: float, *, check: bool) -> None:
    table = Table(title="kboot up", title_justify="left")
    for col in ("phase", "result", "changed", "seconds"):
        table.add_column(col)
    for phase, outcome, seconds in report.phases:
        table.add_row(phase, "ok" if outcome.ok else "failed", str(outcome.changed),
                      f"{seconds:.1f}")
    console.print(table)
    verb = "would change" if check else "changed"
    what = f"{report.changed} task(s) {verb}" if report.changed else "no changes"
    console.print(f"cluster [bold]{report.topology.name}[/]: {what} in {total:.1f}s")
    if not check:
        console.print(f"admin kubeconfig: {report.admin_kubeconfig}\n"
                      f"  kubectl --kubeconfig {report.admin_kubeconfig} get nodes\n"
                      f"  kboot kubeconfig INVENTORY --merge   # into ~/.kube/config")
