"""``kboot restore``: put the cluster's store back to a ``kboot backup`` archive.

Checks that the archive is a backup of this inventory's cluster and of the store kind it runs
on (etcd, or the embedded sqlite store), asks for confirmation, then stops the control plane
(and etcd), restores the snapshot on every etcd member or swaps in the embedded store's
database, starts everything again and waits until the nodes are Ready. Objects created after
the backup are gone afterwards. Re-running after an interruption converges.

Onto new hosts (`kboot restore BACKUP -i NEW_INVENTORY`, the inventory naming the backup's
cluster on machines with other names, addresses or number of control planes): the cluster is
first installed there with the backup's CA and keys (certificates issued for the new hosts),
etcd is restored with the new members, Node objects of the old hosts are deleted and their
pods rescheduled onto the new nodes.
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
  kboot restore kboot-backup-prod-20260101T020000Z.tar.gz -i inventories/prod.yaml
  kboot restore backup.tar.gz -i inventories/prod.yaml --yes   # no question (scripts, CI)
  kboot restore backup.tar.gz -i inventories/prod-dr.yaml --bundle ./bundle   # new hosts
  kboot restore inventories/prod.yaml backup.tar.gz   # the older argument order still works
"""


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("restore", help="restore the cluster's store from a backup",
                              description=__doc__, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", metavar="BACKUP", nargs="+",
                   help="an archive of `kboot backup` (or INVENTORY BACKUP, without -i)")
    p.add_argument("-i", "--inventory", dest="inventory_opt", metavar="INVENTORY",
                   help="the cluster's inventory (the backup's hosts, or new ones)")
    p.add_argument("--bundle", type=Path, metavar="DIR",
                   help="the bundle to install new hosts from (as `kboot up --bundle`)")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--no-verify", action="store_true",
                   help="do not wait for the nodes and a smoke pod after the restore")
    add_runner_arguments(p)
    add_lock_argument(p)
    p.set_defaults(func=run)


def _positional(args: argparse.Namespace) -> tuple[str, Path]:
    """(inventory, archive) from ``BACKUP -i INVENTORY`` or the older ``INVENTORY BACKUP``."""
    files = args.files
    if args.inventory_opt is not None:
        if len(files) != 1:
            raise ConfigError("kboot restore BACKUP -i INVENTORY takes one BACKUP file")
        return args.inventory_opt, Path(files[0])
    if len(files) != 2:
        raise ConfigError("kboot restore needs the inventory: kboot restore BACKUP -i INVENTORY")
    return files[0], Path(files[1])


def run(args: argparse.Namespace) -> int:
    args.inventory, archive = _positional(args)
    inventory = cluster_inventory_arg(args)
    plan = plan_restore(inventory, archive, bundle_dir=args.bundle)
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
        where = " on the new hosts" if plan.new_hosts else ""
        answer = console.input(f"Replace all objects of cluster {escape(m.cluster)}{where} with "
                               "the backup's (the control plane stops meanwhile)? \\[y/N] ")
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
