"""``kboot certs``: the cluster's certificates — check them (expiry, SANs, signer) on the
workstation and on every node, and renew them with the same CA and rolling restarts.

``certs check`` exits 0 when every certificate is fine, 3 when one expires within the threshold,
has expired, carries SANs other than the inventory's, has an unexpected signer or a stale copy
on a node, and 1 when something could not be checked (a host unreachable, a file missing or
unreadable); 2 is a usage mistake, as for every kboot command."""

from __future__ import annotations

import argparse
import datetime
import getpass
import json
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from kboot.cli.commands.get import format_table
from kboot.cli.guard import add_lock_argument, guarded
from kboot.cli.phases import PhaseRunner, add_runner_arguments, cluster_inventory_arg
from kboot.cluster.certscheck import CheckReport, check_certs, report_dict
from kboot.cluster.certsrenew import renew, select_leaves
from kboot.cluster.pki import renew_policy
from kboot.cluster.topology import state_dir, topology_from_inventory
from kboot.errors import ConfigError
from kboot.playbook import default_transports

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot certs check inventories/prod.yaml                  # table; exit 3 if action is needed
  kboot certs check inventories/prod.yaml -o json | jq '.certificates[] | select(.status != "ok")'
  kboot certs check inventories/prod.yaml --threshold-days 60
  kboot certs renew inventories/prod.yaml apiserver etcd/server
  kboot certs renew inventories/prod.yaml --all
"""


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("certs", help="check and renew the cluster's certificates",
                              description=__doc__, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="certs_command", metavar="COMMAND", required=True)
    check = sub.add_parser("check", help="expiry, SANs and signer of every certificate",
                           description=__doc__, epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("inventory", metavar="INVENTORY")
    check.add_argument("-o", "--output", choices=("text", "json"), default="text")
    check.add_argument("--threshold-days", type=float, metavar="DAYS",
                       help="warn below this many days left (default: the inventory's "
                            "cluster.certs.renew_before_days, else 30)")
    check.add_argument("-f", "--forks", type=int, default=20, metavar="N")
    check.set_defaults(func=run_check)
    rn = sub.add_parser("renew", help="re-issue certificates with the same CA, push them and "
                        "restart the services node by node",
                        description=__doc__, epilog=EXAMPLES,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    rn.add_argument("inventory", metavar="INVENTORY")
    rn.add_argument("names", nargs="*", metavar="NAME",
                    help="certificates: apiserver, etcd/server, etcd/peer, kubelet-serving, "
                         "admin, scheduler, … or a full path like nodes/cp1/apiserver")
    rn.add_argument("--all", action="store_true", help="every leaf certificate")
    add_lock_argument(rn)
    add_runner_arguments(rn)
    rn.set_defaults(func=run_renew)


def _text(report: CheckReport, console: Console) -> None:
    rows = []
    for f in sorted(report.findings, key=lambda f: (f.status == "ok", f.days_left or 0)):
        sans = [f"-{s}" for s in f.missing_sans] + [f"+{s}" for s in f.extra_sans]
        detail = "; ".join(f.problems) + (f" (SANs {' '.join(sans)})" if sans else "")
        rows.append([f.where, f.path, f.subject, f.signer,
                     f"{f.not_after:%Y-%m-%d}" if f.not_after else "-",
                     f"{f.days_left:g}" if f.days_left is not None else "?",
                     f.status.upper() if f.status != "ok" else "ok", detail])
    console.print(format_table(["Where", "Certificate", "Subject", "Signer", "Expires", "Days",
                                "Status", "Problems"], rows),
                  markup=False, highlight=False, end="")
    for host, why in report.unreachable.items():
        console.print(f"{host}: not checked: {why}", markup=False, highlight=False)
    bad = sum(f.status != "ok" for f in report.findings)
    code = report.exit_code
    verdict = ("all certificates fine" if code == 0 else
               f"{bad} certificate(s) need attention" if code == 3 else
               "some certificates could not be checked")
    console.print(f"cluster {escape(report.cluster)}: {verdict} (threshold "
                  f"{report.threshold_days:g} days, exit {code})")


def run_check(args: argparse.Namespace) -> int:
    inventory = cluster_inventory_arg(args)
    topo = topology_from_inventory(inventory)
    if args.threshold_days is not None and args.threshold_days < 0:
        raise ConfigError("--threshold-days must be >= 0")
    threshold = (datetime.timedelta(days=args.threshold_days) if args.threshold_days is not None
                 else renew_policy(inventory.cluster).renew_before)
    report = check_certs(inventory, topo, state_dir(topo.name), threshold=threshold,
                         forks=args.forks,
                         transports_factory=default_transports(inventory,
                                                               prompt=getpass.getpass))
    if args.output == "json":
        sys.stdout.write(json.dumps(report_dict(report), indent=2) + "\n")
    else:
        _text(report, Console(soft_wrap=True))
    return report.exit_code


def run_renew(args: argparse.Namespace) -> int:
    inventory = cluster_inventory_arg(args)
    topo = topology_from_inventory(inventory)
    if args.all and args.names:
        raise ConfigError("pass either --all or certificate names, not both")
    leaves = select_leaves(topo, args.names, everything=args.all)
    console = Console(soft_wrap=True)

    def on_phase(step: str, status: str) -> None:
        if status == "start":
            console.rule(f"[bold]{escape(step)}")

    with PhaseRunner(inventory, console, forks=args.forks, verbose=args.verbose) as runner, \
            guarded(inventory, topo, "kboot certs renew", ("certs_renew",), console=console,
                    force_unlock=args.force_unlock, transports_factory=runner.transports):
        report = renew(inventory, topo, leaves, runner=runner, on_phase=on_phase)
    console.print(f"renewed {len(report.renewed)} certificate(s): "
                  + escape(", ".join(report.renewed) or "none"))
    return 0
