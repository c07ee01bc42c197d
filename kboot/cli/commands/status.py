"""``kboot status``: nodes, component health per host, etcd members and leader, scheduler and
controller-manager leaders, certificate expiry. Exit 0 when everything is healthy, 1 otherwise."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from kboot.cli.commands.get import format_table
from kboot.cluster.pki import renew_policy
from kboot.cluster.status import StatusReport, gather_status, report_dict
from kboot.cluster.topology import topology_from_inventory
from kboot.inventory import load_inventory
from kboot.playbook import default_transports

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot status inventories/prod.yaml
  kboot status inventories/prod.yaml -o json | jq .problems
  kboot status inventories/lab-kboot.yaml && echo healthy
"""


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("status", help="cluster health at a glance", description=__doc__,
                              epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inventory", metavar="INVENTORY")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p.add_argument("-f", "--forks", type=int, default=20, metavar="N")
    p.set_defaults(func=run)


def _mark(ok: bool) -> str:
    return "[green]ok[/]" if ok else "[bold red]FAIL[/]"


def render(report: StatusReport, console: Console, warn_days: float = 30) -> None:
    def section(title: str, text: str) -> None:
        console.print(f"[bold]{title}[/]")
        console.print(text, markup=False, highlight=False, end="")
        console.print()

    section("Nodes", format_table(["Name", "Ready", "Roles", "Version", "IP"], [
        [n.name, "Ready" if n.ready else "NotReady", n.roles, n.version, n.ip]
        for n in report.nodes]) if report.nodes else "(the API did not answer)\n")
    rows = []
    for h in report.hosts:
        if not h.reachable:
            rows.append([h.host, "UNREACHABLE", h.message[:60]])
            continue
        bad = [f"{u}={s}" for u, s in h.units.items() if s != "active"]
        rows.append([h.host, "ok" if not bad else "FAILED", " ".join(bad) or
                     f"{len(h.units)} units active"])
    section("Components", format_table(["Host", "Health", "Details"], rows))
    if report.store == "sqlite":
        section("Store", "embedded sqlite on the control plane (no etcd members)\n")
    else:
        section("etcd", format_table(["Member", "ID", "Leader", "Healthy", "Client URLs"], [
            [m.name, m.id, "*" if m.leader else "", "yes" if m.healthy else "NO",
             ",".join(m.client_urls)] for m in report.etcd]) if report.etcd else "(unknown)\n")
    section("Leaders", format_table(["Component", "Holder"], [
        [k, v or "<none>"] for k, v in report.leaders.items()]) if report.leaders
        else "(unknown)\n")
    section("Certificates (soonest expiry first)", format_table(
        ["Certificate", "Subject", "Expires", "Days"],
        [[c.path, c.subject, f"{c.not_after:%Y-%m-%d}" if c.not_after else c.problem,
          (str(c.days_left) + (" WARN" if c.days_left < warn_days else ""))
          if c.days_left is not None else "?"] for c in report.certs]))
    if report.problems:
        console.print(f"[bold red]{len(report.problems)} problem(s):[/]")
        for p in report.problems:
            console.print(f"  - {p}", markup=False, highlight=False)
    else:
        console.print(f"cluster {escape(report.cluster)}: {_mark(True)} all healthy")


def run(args: argparse.Namespace) -> int:
    inventory = load_inventory(args.inventory, require_groups=("control_plane",))
    topo = topology_from_inventory(inventory)
    warn_days = renew_policy(inventory.cluster).renew_before.days  # when `up` renews
    report = gather_status(inventory, topo, forks=args.forks, warn_days=warn_days,
                           transports_factory=default_transports(inventory,
                                                                 prompt=getpass.getpass))
    if args.output == "json":
        sys.stdout.write(json.dumps(report_dict(report), indent=2) + "\n")
    else:
        render(report, Console(soft_wrap=True), warn_days)
    return 0 if report.healthy else 1
