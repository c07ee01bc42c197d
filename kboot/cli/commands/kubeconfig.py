"""``kboot kubeconfig``: the cluster's admin kubeconfig, printed or merged into ~/.kube/config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from kboot.cluster.kubeconfig import merge_into_file
from kboot.cluster.topology import state_dir, topology_from_inventory
from kboot.errors import ConfigError
from kboot.inventory import load_inventory

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot kubeconfig inventories/prod.yaml --merge                 # context kboot-<cluster>
  kboot kubeconfig inventories/prod.yaml --merge --context prod
  kboot kubeconfig inventories/prod.yaml > prod.kubeconfig      # print it
"""


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("kubeconfig", help="the admin kubeconfig (print or merge)",
                              description=__doc__, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inventory", metavar="INVENTORY")
    p.add_argument("--merge", action="store_true",
                   help="merge into $KUBECONFIG or ~/.kube/config and make it current")
    p.add_argument("--context", metavar="NAME", help="context name (default kboot-<cluster>)")
    p.add_argument("--file", type=Path, metavar="PATH", help="merge into this file instead")
    p.set_defaults(func=run)


def admin_kubeconfig(inventory: str) -> tuple[str, Path]:
    topo = topology_from_inventory(load_inventory(inventory, require_groups=("control_plane",)))
    path = state_dir(topo.name) / "kubeconfigs" / "admin.kubeconfig"
    if not path.exists():
        raise ConfigError(f"{inventory}: cluster {topo.name!r} has no admin kubeconfig yet "
                          f"(expected {path}); run `kboot up {inventory}` first")
    return topo.name, path


def run(args: argparse.Namespace) -> int:
    name, path = admin_kubeconfig(args.inventory)
    if not args.merge:
        sys.stdout.write(path.read_text())
        return 0
    context = args.context or f"kboot-{name}"
    target = merge_into_file(path, context=context, target=args.file)
    Console().print(f"context [bold]{escape(context)}[/] merged into {escape(str(target))} "
                    "and made current")
    return 0
