"""``kboot reset``: stop and remove everything kboot installed on the inventory's hosts."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from kboot.cli.completion import complete, host_patterns
from kboot.cli.guard import add_lock_argument, guarded
from kboot.cli.phases import PhaseRunner
from kboot.cluster.reset import reset
from kboot.cluster.topology import topology_from_inventory
from kboot.errors import ConfigError
from kboot.inventory import load_inventory

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot reset inventories/prod.yaml               # asks for confirmation
  kboot reset inventories/lab-kboot.yaml --yes    # no question (scripts, CI)
  kboot reset inventories/prod.yaml --yes --forget   # also drop the workstation's PKI
"""


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("reset", help="remove kboot from the hosts", description=__doc__,
                              epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inventory", metavar="INVENTORY")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--forget", action="store_true",
                   help="also remove the cluster's state (PKI, kubeconfigs) on the workstation")
    p.add_argument("-f", "--forks", type=int, default=20, metavar="N")
    complete(p.add_argument("-l", "--limit", metavar="PATTERN", help="only these hosts"),
             host_patterns)
    add_lock_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inventory = load_inventory(args.inventory, require_groups=("control_plane",))
    console = Console(soft_wrap=True)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigError("kboot reset removes the cluster's data; pass --yes to confirm")
        hosts = ", ".join(inventory.hosts)
        answer = console.input(f"Remove kboot and all cluster data from {escape(hosts)}? \\[y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            console.print("nothing changed")
            return 1
    topo = topology_from_inventory(inventory)
    with PhaseRunner(inventory, console, forks=args.forks, limit=args.limit) as runner, \
            guarded(inventory, topo, "kboot reset", ("reset",), console=console,
                    force_unlock=args.force_unlock, transports_factory=runner.transports,
                    unreachable_ok=True):  # resetting what is left of a dead cluster
        state = reset(inventory, runner=runner, forget=args.forget)
    kept = "removed" if args.forget else "kept"
    console.print(f"reset done; workstation state {kept}: {state}", markup=False)
    return 0
