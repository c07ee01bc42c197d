"""``kboot remove-node``: take a node out of a running cluster — cordon and drain it through the
API, reset the host (remove kboot and its data), delete its Node object and Lease.

A control plane (or etcd member) is checked first: refused when it is the last control plane or
when the healthy etcd members left would not keep quorum. Then its etcd leadership is moved away,
its member removed, and every other node's load balancer and the virtual address re-rendered
without it."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from kboot.cli.commands.get import add_kubeconfig_arg, api_call_error, api_errors, kubeconfig_for
from kboot.cli.completion import complete, inventory_hosts
from kboot.cli.guard import add_lock_argument, guarded
from kboot.cli.phases import PhaseRunner
from kboot.cluster.hooks import run_hooks
from kboot.cluster.membership import engine_run
from kboot.cluster.removenode import RemoveReport, check_removable, host_probe, remove_node
from kboot.cluster.topology import topology_from_inventory
from kboot.controlplane.client.errors import ApiError
from kboot.controlplane.client.sync import SyncClient
from kboot.errors import ConfigError
from kboot.inventory import load_inventory

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot remove-node inventories/prod.yaml w3            # asks for confirmation
  kboot remove-node inventories/prod.yaml w3 --yes --timeout 300
  kboot remove-node inventories/prod.yaml w3 --yes --force   # w3 is dead: skip drain and reset
  kboot remove-node inventories/prod.yaml cp3 --yes          # a control plane: etcd quorum checked
then remove the node from the inventory: a later `kboot up` with it still listed joins it again.
"""


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("remove-node",
                              help="drain, reset and delete a node (worker or control plane)",
                              description=__doc__, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inventory", metavar="INVENTORY")
    complete(p.add_argument("node", metavar="NODE",
                            help="the node to remove (an inventory host)"), inventory_hosts)
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--force", action="store_true",
                   help="when the host is unreachable: delete its pods (grace period 0) and its "
                        "Node object anyway, without draining or resetting it")
    p.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                   help="how long the drain may take (default 120)")
    p.add_argument("-v", "--verbose", action="store_true", help="also list ok and skipped tasks")
    add_lock_argument(p)
    add_kubeconfig_arg(p)
    p.set_defaults(func=run)


def _confirm(console: Console, node: str, cluster: str) -> bool:
    if not sys.stdin.isatty():
        raise ConfigError(f"kboot remove-node drains {node} and removes kboot and its data from "
                          "it; pass --yes to confirm")
    answer = console.input(f"Drain {escape(node)}, remove kboot and its data from it and delete "
                           f"it from cluster {escape(cluster)}? \\[y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _summary(report: RemoveReport, inventory: str) -> list[str]:
    """The closing report, as rich markup: every name in it is escaped (pod and Ingress names,
    the inventory path and the unreachable reason are the user's or the cluster's text)."""
    d, node, inv = report.drained, escape(report.node), escape(inventory)
    lines = [f"removed node [bold]{node}[/] from cluster [bold]{escape(report.cluster)}[/]:"]
    if report.registered:
        verb = "evicted" if report.host_reset else "deleted (grace period 0)"
        lines.append(f"  cordoned and drained: {len(d.evicted)} pod(s) {verb}"
                     + (f" ({escape(', '.join(d.evicted))})" if d.evicted else ""))
        if d.left:
            lines.append("  left to go with the Node (DaemonSet, mirror): "
                         + escape(", ".join(d.left)))
        if d.unmanaged:
            lines.append("  [yellow]not recreated (no controller owns them):[/] "
                         + escape(", ".join(d.unmanaged)))
    else:
        lines.append("  no Node object was registered: nothing to drain")
    if report.etcd is not None:
        lines.append(f"  etcd member {report.etcd.member} removed" if report.etcd.member else
                     "  etcd: it was not a member (any more)")
        if report.etcd.leader_moved_to:
            lines.append(f"  etcd leadership moved to {escape(report.etcd.leader_moved_to)} first")
    if report.load_balancers:
        lines.append("  load balancers (haproxy) and the virtual address (keepalived) of the "
                     "other nodes re-rendered without it")
    if report.host_reset:
        lines.append(f"  host reset: kboot and its data removed from {node}")
    else:
        lines.append(f"  [yellow]host not reset: unreachable ({escape(report.unreachable)}); if "
                     f"it comes back, reset it (`kboot reset {inv} --limit {node} --yes`) "
                     "before its kubelet registers it again[/]")
    deleted = ((["Node object"] if report.registered else [])
               + ([f"Lease kube-node-lease/{node}"] if report.lease_deleted else []))
    lines.append(f"  deleted: {', '.join(deleted)}" if deleted else
                 "  no Node object or Lease left to delete")
    if report.ingresses:
        lines.append("  its address removed from Ingress status: "
                     + escape(", ".join(report.ingresses)))
    lines.append(f"next: remove {node} from {inv} — a later `kboot up` with {node} still "
                 "in it would join it to the cluster again")
    return lines


def run(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        raise ConfigError("--timeout must be a positive number of seconds")
    inventory = load_inventory(args.inventory, require_groups=("control_plane",))
    topo = topology_from_inventory(inventory)
    check_removable(topo, args.node)
    kubeconfig = kubeconfig_for(args)
    console = Console(soft_wrap=True)
    if not args.yes and not _confirm(console, args.node, topo.name):
        console.print("nothing changed")
        return 1

    def on_step(step: str, status: str) -> None:
        if step == "drain" and status in ("start", "ok"):  # the inventory's drain hooks
            run_hooks(inventory, "before_drain" if status == "start" else "after_drain",
                      env={"KBOOT_NODE": args.node})
        if status == "start":
            console.rule(f"[bold]{escape(step)}")
        elif status in ("skipped", "failed"):
            console.print(f"[yellow]{escape(step)}: {status}[/]"
                          + (" (--force: going on)" if status == "failed" else ""), markup=True)

    def on_refused(pod: str, why: str) -> None:
        console.print(f"waiting: eviction of {escape(pod)} refused ({escape(why)}); retrying "
                      f"until --timeout ({args.timeout:g}s)", highlight=False)

    # no --limit: a control plane's removal re-renders the other nodes' load balancers (the
    # reset playbook runs on the removed node alone)
    with (PhaseRunner(inventory, console, verbose=args.verbose) as runner,
          guarded(inventory, topo, "kboot remove-node", (), console=console,
                  force_unlock=args.force_unlock, transports_factory=runner.transports),
          api_errors(kubeconfig), SyncClient.from_kubeconfig(kubeconfig) as api):
        try:
            report = remove_node(inventory, args.node, api=api, runner=runner,
                                 probe=host_probe(inventory, transports_factory=runner.transports),
                                 force=args.force, timeout=args.timeout, on_step=on_step,
                                 on_refused=on_refused,
                                 progress=lambda line: console.print(line, highlight=False,
                                                                     markup=False),
                                 run=engine_run(inventory, runner.transports))
        except ApiError as err:
            raise api_call_error(err) from None
    console.print("\n".join(_summary(report, args.inventory)), highlight=False)
    return 0
