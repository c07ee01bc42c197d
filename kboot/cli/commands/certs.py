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
from kboot.cluster.certsrotate import DEFAULT_SA_GRACE, STAGES, RotateOptions, rotate_ca
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
  kboot certs rotate-ca inventories/prod.yaml                # all stages (or resume them)
  kboot certs rotate-ca inventories/prod.yaml --stage trust  # one stage at a time
"""


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("certs", help="check, renew and rotate the cluster's "
                              "certificates",
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
    rc = sub.add_parser("rotate-ca", help="replace the CAs and the ServiceAccount signing key "
                        "in stages (trust both, re-issue every leaf, drop the old)",
                        description=ROTATE_DOC, epilog=EXAMPLES,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    rc.add_argument("inventory", metavar="INVENTORY")
    rc.add_argument("--stage", choices=STAGES,
                    help="run only this stage (default: every stage not done yet, resuming "
                         "an interrupted rotation)")
    rc.add_argument("--sa-key-grace-minutes", type=float, metavar="MINUTES",
                    default=DEFAULT_SA_GRACE.total_seconds() / 60,
                    help="finish removes the old ServiceAccount key only this long after "
                         "the reissue stage, when the tokens it signed have expired (default: "
                         "%(default)g, the default token lifetime)")
    rc.add_argument("--pods-timeout", type=float, metavar="SECONDS", default=180.0,
                    help="reissue starts only once every pod's projected ServiceAccount "
                         "ca.crt holds the new CA; how long to wait for the kubelets to "
                         "refresh them (default: %(default)g)")
    add_lock_argument(rc)
    add_runner_arguments(rc)
    rc.set_defaults(func=run_rotate)


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


ROTATE_DOC = """``kboot certs rotate-ca``: a new cluster CA, etcd CA and ServiceAccount signing key,
in three stages with node-by-node restarts (no pod restarts):

  trust    every host trusts the old and the new CAs and ServiceAccount keys
  reissue  once every pod's projected ca.crt holds the new CA (--pods-timeout), the new
           CA signs: every leaf, kubeconfig (the admin one too) and kubelet client
           certificate is re-issued; both CAs still trusted
  finish   the old CAs are dropped everywhere; the old ServiceAccount key once the tokens it
           signed have expired (--sa-key-grace-minutes after reissue; run finish again then)

The stages done are recorded in the state directory (pki/rotation.json): running the command
again after an interruption resumes where it stopped."""


def run_rotate(args: argparse.Namespace) -> int:
    inventory = cluster_inventory_arg(args)
    topo = topology_from_inventory(inventory)
    if args.sa_key_grace_minutes < 0:
        raise ConfigError("--sa-key-grace-minutes must be >= 0")
    if args.pods_timeout < 0:
        raise ConfigError("--pods-timeout must be >= 0")
    console = Console(soft_wrap=True)
    options = RotateOptions(stage=args.stage,
                            sa_grace=datetime.timedelta(minutes=args.sa_key_grace_minutes),
                            pods_timeout=args.pods_timeout,
                            progress=lambda line: console.print(line, markup=False,
                                                                highlight=False))

    def on_phase(step: str, status: str) -> None:
        if status == "start":
            console.rule(f"[bold]stage {escape(step)}")

    with PhaseRunner(inventory, console, forks=args.forks, verbose=args.verbose) as runner, \
            guarded(inventory, topo, "kboot certs rotate-ca", ("rotate_ca",),
                    console=console, force_unlock=args.force_unlock,
                    transports_factory=runner.transports):
        results = rotate_ca(inventory, topo, runner=runner, on_phase=on_phase,
                            transports_factory=runner.transports, options=options)
    for r in results:
        console.print(f"stage {r.stage}: {len(r.reissued)} file(s) re-issued"
                      + (f", {escape(', '.join(r.changed_files))}" if r.changed_files else ""))
        if r.note:
            console.print(escape(r.note))
    if results and results[-1].stage == "trust":
        console.print("before `reissue`: restart the pods that loaded their ServiceAccount "
                      "ca.crt before this stage (client-go loads it once, at start): they "
                      "trust only the old CA (docs/runbook.md, \"Rotating the CA\")")
    done = results and results[-1].stage == "finish" and not results[-1].note
    console.print("CA rotation complete: the old CAs and ServiceAccount key are gone" if done
                  else "CA rotation under way: run `kboot certs rotate-ca` again to continue")
    return 0


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
