"""``kboot backup``: a consistent snapshot of the cluster's store, with the keys to restore it,
in one archive on the workstation (mode 0600: it holds the cluster's keys)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from kboot.cli.guard import add_lock_argument, guarded
from kboot.cli.phases import PhaseRunner, add_runner_arguments, cluster_inventory_arg
from kboot.cluster.backup import backup
from kboot.cluster.registry import registry_settings
from kboot.cluster.topology import topology_from_inventory

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot backup inventories/prod.yaml                   # ./kboot-backup-<cluster>-<UTC time>.tar.gz
  kboot backup inventories/prod.yaml -o /srv/backups/  # into that directory
  kboot backup inventories/prod.yaml -o prod-before-upgrade.tar.gz
"""


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("backup", help="snapshot the cluster's store to an archive",
                              description=__doc__, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inventory", metavar="INVENTORY")
    p.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="archive file or directory (default: "
                        "./kboot-backup-<cluster>-<UTC time>.tar.gz); never overwritten")
    add_runner_arguments(p)
    add_lock_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inventory = cluster_inventory_arg(args)
    console = Console(soft_wrap=True)

    def on_phase(step: str, status: str) -> None:
        if status == "start":
            console.rule(f"[bold]{escape(step)}")
        elif status == "failed":
            console.print(f"[yellow]{escape(step)}: failed[/]", markup=True)

    topo = topology_from_inventory(inventory)
    with PhaseRunner(inventory, console, forks=args.forks, verbose=args.verbose) as runner, \
            guarded(inventory, topo, "kboot backup", ("backup",), console=console,
                    force_unlock=args.force_unlock, transports_factory=runner.transports):
        report = backup(inventory, runner=runner, on_phase=on_phase, dest=args.output)
    m = report.manifest
    members = ("store on " if m.store == "sqlite" else "members ") + ", ".join(
        member.name for member in m.members)
    written = escape(str(report.path))
    console.print(f"backup of cluster [bold]{escape(m.cluster)}[/] written: {written}\n"
                  f"  {m.store} snapshot from {escape(m.source)} ({m.snapshot_size / 1e6:.1f} MB), "
                  f"{escape(members)}, taken {m.created}\n"
                  "  the archive holds the cluster's keys: keep it as safe as the cluster",
                  markup=True, highlight=False)
    if registry_settings(inventory).enabled:
        console.print("  not included: the cluster registry's images (/var/lib/kboot/registry on "
                      "the control planes); push them again after a restore (docs/images.md)",
                      markup=False, highlight=False)
    return 0
