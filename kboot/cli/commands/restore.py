"""``kboot restore``: put the cluster's store back to a ``kboot backup`` archive.

Checks that the archive is a backup of this inventory's cluster and of the store kind it runs
on (etcd, or the embedded sqlite store), asks for confirmation, then stops the control plane
(and etcd), restores the snapshot on every etcd member or swaps in the embedded store's
database, starts everything again and waits until the nodes are Ready. Objects created after
the backup are gone afterwards. Re-running after an interruption converges.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from kboot.cli.guard import add_lock_argument, guarded
from kboot.cli.phases import PhaseRunner, add_runner_arguments, cluster_inventory_arg
from kboot.cluster.restore import plan_restore, restore
from kboot.cluster.topology import topology_from_inventory
from kboot.cluster.verify import verify_cluster
from kboot.errors import ConfigError

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot restore inventories/prod.yaml kboot-backup-prod-20260101T020000Z.tar.gz
  kboot restore inventories/prod.yaml backup.tar.gz --yes    # no question (scripts, CI)
"""


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("restore", help="restore the cluster's store from a backup",
                              description=__doc__, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inventory", metavar="INVENTORY")
    p.add_argument("archive", metavar="FILE", type=Path, help="an archive of `kboot backup`")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--no-verify", action="store_true",
                   help="do not wait for the nodes and a smoke pod after the restore")
    add_runner_arguments(p)
    add_lock_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inventory = cluster_inventory_arg(args)
    plan = plan_restore(inventory, args.archive)
    console = Console(soft_wrap=True)
    m = plan.archive.manifest
    console.print(f"backup of cluster [bold]{escape(m.cluster)}[/] taken {escape(m.created)} on "
                  f"{escape(m.source)} (kboot {escape(m.kboot_version)})", markup=True,
                  highlight=False)
    for note in plan.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigError("kboot restore replaces the cluster's data; pass --yes to confirm")
        answer = console.input(f"Replace all objects of cluster {escape(m.cluster)} with the "
                               "backup's (the control plane stops meanwhile)? \\[y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            console.print("nothing changed")
            return 1

    def on_phase(step: str, status: str) -> None:
        if status == "start":
            console.rule(f"[bold]restore {escape(step)}")

    verify = None if args.no_verify else verify_cluster
    topo = topology_from_inventory(inventory)
    with PhaseRunner(inventory, console, forks=args.forks, verbose=args.verbose) as runner, \
            guarded(inventory, topo, "kboot restore", (), console=console,
                    force_unlock=args.force_unlock, transports_factory=runner.transports):
        restore(plan, runner=runner, on_phase=on_phase, verify=verify)
    console.print(f"cluster [bold]{escape(m.cluster)}[/] restored to the backup of "
                  f"{escape(m.created)}",
                  markup=True, highlight=False)
    return 0
