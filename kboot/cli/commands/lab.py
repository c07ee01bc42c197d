"""``kboot lab``: local test machines (systemd-nspawn) and fault injection.

Examples::

    kboot lab up --control-planes 3 --workers 2      # writes inventories/lab-kboot.yaml
    kboot lab status
    kboot lab ssh cp1 -- hostname
    kboot lab partition cp1 --from cp2 cp3 && kboot lab heal
    kboot lab stop w1 && kboot lab start w1
    kboot lab down
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kboot.cli.completion import complete, lab_nodes, labs
from kboot.errors import UserError
from kboot.lab import Lab, lab_names
from kboot.lab.spec import DEFAULT_NAME, DEFAULT_SUBNET, parse_node_name
from kboot.lab.system import require_tools

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


EXAMPLES = """examples:
  kboot lab up                                    # 3 control planes + 2 workers, name "kboot"
  kboot lab up --name small --control-planes 1 --workers 1 --subnet 10.77.5.0/24
  kboot up inventories/lab-kboot.yaml             # the inventory it wrote, unchanged
  kboot lab ssh cp1 -- systemctl status kboot-apiserver
  kboot lab kill cp2 && kboot lab start cp2       # fault injection: hard power-off, boot again
  kboot lab partition w1 --from cp1 cp2 && kboot lab heal
  kboot lab down                                  # removes machines, links, mounts, processes
"""


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser("lab", help="local test machines (systemd-nspawn)",
                                   epilog=EXAMPLES,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="lab_command", metavar="ACTION")
    up = _add(sub, "up", "create or converge the lab, write its inventory", _up)
    up.add_argument("--control-planes", type=int, default=3, metavar="N")
    up.add_argument("--workers", type=int, default=2, metavar="M")
    up.add_argument("--subnet", metavar="CIDR",
                    help=f"lab subnet (default {DEFAULT_SUBNET}; an existing lab keeps its own)")
    up.add_argument("--inventory", type=Path, metavar="PATH",
                    help="where to write the inventory (default inventories/lab-NAME.yaml)")
    up.add_argument("--image", choices=("plain", "provisioned"),
                    help="plain Debian (default) or with cluster packages preinstalled")
    _add(sub, "down", "remove the lab and everything it created", _down)
    _add(sub, "status", "show the lab's machines", _status)
    ssh = _add(sub, "ssh", "open a shell (or run a command) on a node over SSH", _ssh)
    complete(ssh.add_argument("node"), lab_nodes)
    ssh.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND...")
    for action, text in (("stop", "clean shutdown (systemctl poweroff inside)"),
                         ("start", "boot a stopped node again, keeping its disk"),
                         ("kill", "hard power-off")):
        complete(_add(sub, action, text, _fault).add_argument("node"), lab_nodes)
    part = _add(sub, "partition", "drop traffic between NODE and others", _partition)
    complete(part.add_argument("node"), lab_nodes)
    complete(part.add_argument("--from", dest="peers", nargs="+", metavar="NODE",
                               help="only these nodes (default: all others)"), lab_nodes)
    _add(sub, "heal", "remove every partition", _heal)
    parser.set_defaults(func=lambda _args: _usage(parser))


def _add(sub: SubParsers, name: str, text: str, func: object) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=text, description=text, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    complete(p.add_argument("--name", default=DEFAULT_NAME, help="lab name (default %(default)s)"),
             labs)
    p.set_defaults(func=func)
    return p


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _up(args: argparse.Namespace) -> int:
    lab = Lab(args.name, control_planes=args.control_planes, workers=args.workers,
              subnet=args.subnet, image=args.image, inventory_path=args.inventory)
    console = Console()
    with console.status(f"lab {escape(args.name)}: bringing machines up…"):
        inventory = lab.up()
    _print_status(lab, console)
    rel = os.path.relpath(inventory) if inventory.is_relative_to(Path.cwd()) else inventory
    hints = [
        (f"kboot up {rel}", "bring up a cluster on it"),
        (f"kboot lab ssh {lab.nodes[0].short} --name {args.name}", "a shell on a node"),
        (f"kboot lab down --name {args.name}", "remove it all"),
    ]
    width = max(len(cmd) for cmd, _ in hints)
    console.print(f"\ninventory: [bold]{escape(str(rel))}[/]", highlight=False)
    for cmd, what in hints:
        console.print(f"  {cmd.ljust(width)}  # {what}", highlight=False, markup=False)
    return 0


def _down(args: argparse.Namespace) -> int:
    Lab(args.name).down()
    Console().print(f"lab {args.name}: removed", markup=False)
    return 0


def _status(args: argparse.Namespace) -> int:
    _print_status(Lab(args.name), Console())
    return 0


def _print_status(lab: Lab, console: Console) -> None:
    table = Table(title=f"lab {escape(lab.name)}")
    for col in ("node", "role", "state", "IP", "pid"):
        table.add_column(col)
    for st in lab.status():
        colour = "green" if st.state == "running" else "red"
        table.add_row(escape(st.name), st.role, f"[{colour}]{escape(st.state)}[/]", st.address,
                      str(st.pid or "-"))
    console.print(table)


def ssh_words(name: str, rest: Sequence[str]) -> tuple[str, list[str]]:
    """The lab name and the remote command from what follows ``NODE``: argparse's REMAINDER
    takes ``--name X`` there too (the documented order ``ssh NODE --name X -- CMD``), so the
    leading ``--name`` options are read here; the command is what follows ``--`` (or, without
    ``--``, the remaining words, as ``ssh host cmd`` takes them)."""
    words = list(rest)
    while words and words[0] != "--":
        if words[0] == "--name":
            if len(words) < 2:
                raise UserError("kboot lab ssh: --name expects a lab name")
            name, words = words[1], words[2:]
        elif words[0].startswith("--name="):
            name, words = words[0].split("=", 1)[1], words[1:]
        else:
            break
    return name, words[1:] if words[:1] == ["--"] else words


def lab_for_node(name: str, node: str, labs: Sequence[str]) -> str:
    """The lab to use: ``--name`` (or its default); but when that lab does not exist and NODE
    is a full node name of one that does (``kboot lab ssh demo-w2``), that one."""
    parsed = parse_node_name(node)
    if name not in labs and parsed is not None and parsed[0] in labs:
        return parsed[0]
    return name


def _ssh(args: argparse.Namespace) -> int:
    require_tools(["ssh"])
    name, cmd = ssh_words(args.name, args.cmd)
    lab = Lab(lab_for_node(name, args.node, lab_names()))
    node = lab.existing_node(args.node)
    argv = ["ssh", "-i", str(lab.key_file), "-o", f"UserKnownHostsFile={lab.known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes",
            f"root@{node.address}"]
    if cmd:
        argv += ["--", *cmd]  # joined by ssh with spaces, as plain `ssh host cmd…` does
    os.execvp("ssh", argv)
    return 1  # not reached


def _fault(args: argparse.Namespace) -> int:
    lab = Lab(args.name)
    action = getattr(lab, args.lab_command)
    action(args.node)
    Console().print(f"{lab.node(args.node).name}: {args.lab_command} done", markup=False)
    return 0


def _partition(args: argparse.Namespace) -> int:
    lab = Lab(args.name)
    lab.partition(args.node, args.peers)
    peers = ", ".join(args.peers) if args.peers else "all other nodes"
    Console().print(f"{lab.node(args.node).name}: partitioned from {peers}", markup=False)
    return 0


def _heal(args: argparse.Namespace) -> int:
    Lab(args.name).heal()
    Console().print(f"lab {args.name}: healed", markup=False)
    return 0
