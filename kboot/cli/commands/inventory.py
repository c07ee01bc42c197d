"""``kboot inventory``: validate an inventory and show what kboot resolved from it.

Examples::

    kboot inventory check inventories/prod.yaml
    kboot inventory show inventories/prod.yaml
    kboot inventory show inventories/kubespray.ini --host node1 -o json

Passwords are never shown: only where they come from (environment variable or prompt).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import TYPE_CHECKING, Any

import yaml
from rich.console import Console

from kboot.cli.completion import complete, inventory_hosts
from kboot.errors import ConfigError
from kboot.inventory import Host, Inventory, load_inventory

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot inventory check inventories/prod.yaml
  kboot inventory check inventories/prod.yaml --require control_plane --require workers
  kboot inventory show inventories/prod.yaml
  kboot inventory show inventories/kubespray.ini --host node1 -o json
"""


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "inventory", help="validate or show an inventory", description=__doc__,
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="inventory_command", metavar="ACTION")
    show = sub.add_parser(
        "show", help="print resolved hosts, groups and variables", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    show.add_argument("inventory", metavar="INVENTORY", help="kboot YAML, Ansible YAML or INI")
    complete(show.add_argument("--host", metavar="H", help="only this host"), inventory_hosts)
    show.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml")
    show.set_defaults(func=_show)
    check = sub.add_parser(
        "check", help="validate only (no connection); exit 2 on any problem", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("inventory", metavar="INVENTORY")
    check.add_argument("--require", action="append", default=[], metavar="GROUP",
                       help="a group that must have hosts (repeatable)")
    check.set_defaults(func=_check)
    parser.set_defaults(func=lambda _args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def host_view(host: Host) -> dict[str, Any]:
    """A host as shown to users: connection settings (password *sources* only), groups, vars."""
    conn = dataclasses.asdict(host.connection)
    conn["jump"] = [dataclasses.asdict(j) for j in host.connection.jump]
    return {"connection": conn, "groups": list(host.groups), "vars": host.vars,
            "labels": host.labels, "taints": list(host.taints)}


def inventory_view(inv: Inventory, host: str | None = None) -> dict[str, Any]:
    if host is not None:
        if host not in inv.hosts:
            raise ConfigError(f"no host {host!r} in {inv.source}", field="--host")
        return {"hosts": {host: host_view(inv.hosts[host])}}
    return {
        "source": inv.source,
        "cluster": inv.cluster,
        "vars": inv.vars,
        "hosts": {name: host_view(h) for name, h in inv.hosts.items()},
        "groups": {
            name: {"hosts": list(g.hosts), "children": list(g.children), "vars": g.vars,
                   "members": inv.group_members(name)}
            for name, g in inv.groups.items()
        },
    }


def _show(args: argparse.Namespace) -> int:
    view = inventory_view(load_inventory(args.inventory), args.host)
    if args.output == "json":
        text = json.dumps(view, indent=2, default=str)
    else:
        text = yaml.safe_dump(view, sort_keys=False, default_flow_style=False)
    Console(soft_wrap=True).print(text, markup=False, highlight=False, end="")
    return 0


def _check(args: argparse.Namespace) -> int:
    inv = load_inventory(args.inventory, require_groups=args.require)
    Console().print(f"{args.inventory}: ok ({len(inv.hosts)} hosts, {len(inv.groups)} groups)",
                    markup=False, highlight=False)
    return 0
