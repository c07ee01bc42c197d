"""``kboot logs``: a pod's logs through the API, or a component's journal across the hosts that
run it, interleaved by time with host prefixes (``--component``)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from kboot.cli.commands.get import (
    add_kubeconfig_arg,
    api_errors,
    kubeconfig_for,
)
from kboot.cli.completion import complete, host_patterns
from kboot.cluster.logs import COMPONENTS, ComponentLogs, LogLine, LogQuery, component_hosts
from kboot.cluster.topology import topology_from_inventory
from kboot.controlplane.client.errors import ApiError
from kboot.controlplane.client.rest import Client
from kboot.controlplane.client.streams import log_params, pod_log
from kboot.errors import UserError
from kboot.inventory import load_inventory
from kboot.playbook import default_transports

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot logs inventories/prod.yaml hello-7d9c-abcde -n hello           # a pod's log
  kboot logs inventories/prod.yaml web-0 -c sidecar -f --tail 20      # follow one container
  kboot logs inventories/prod.yaml --component kubelet --since 10m     # every node's kubelet
  kboot logs inventories/prod.yaml --component apiserver --host cp1 -f
  kboot logs inventories/prod.yaml --component etcd --tail 50
"""
_DURATION = re.compile(r"^(\d+)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("logs", help="pod logs, or component logs across hosts",
                              description=__doc__, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inventory", metavar="INVENTORY")
    p.add_argument("pod", metavar="POD", nargs="?", help="a pod's name (not with --component)")
    p.add_argument("--component", choices=tuple(COMPONENTS), metavar="NAME",
                   help=f"a component's journal: {', '.join(COMPONENTS)}")
    complete(p.add_argument("--host", metavar="PATTERN",
                            help="with --component: only these hosts"), host_patterns)
    p.add_argument("-c", "--container", metavar="C", help="the pod's container")
    p.add_argument("-n", "--namespace", metavar="NS", default="default")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.add_argument("--tail", type=int, metavar="N", help="only the last N lines")
    p.add_argument("--since", metavar="DURATION", help="only newer lines: 30s, 10m, 2h, 1d")
    p.add_argument("--forks", type=int, default=20, metavar="N")
    add_kubeconfig_arg(p)
    p.set_defaults(func=run)


def since_seconds(value: str | None) -> int | None:
    if value is None:
        return None
    m = _DURATION.match(value.strip())
    if not m:
        raise UserError(f"--since {value}: expected a duration like 30s, 10m, 2h or 1d")
    return int(m.group(1)) * _SECONDS[m.group(2)]


def format_line(line: LogLine, width: int) -> str:
    return f"{line.host.ljust(width)} | {line.message}\n"


def _write(lines: list[LogLine], width: int) -> None:
    sys.stdout.write("".join(format_line(ln, width) for ln in lines))
    sys.stdout.flush()


def _component(args: argparse.Namespace) -> int:
    inventory = load_inventory(args.inventory, require_groups=("control_plane",))
    hosts = component_hosts(topology_from_inventory(inventory), inventory, args.component,
                            args.host)
    seconds = since_seconds(args.since)
    query = LogQuery(args.component, tuple(hosts),
                     tail=args.tail if args.tail is not None else (None if seconds else 100),
                     since=f"-{seconds}s" if seconds else None)
    logs = ComponentLogs(inventory, query, forks=args.forks,
                         transports_factory=default_transports(inventory,
                                                               prompt=getpass.getpass))
    width = max(len(h) for h in hosts)
    err = Console(stderr=True)
    try:
        batches = logs.follow() if args.follow else iter([logs.fetch()])
        reported: set[str] = set()
        for batch in batches:
            _write(batch, width)
            for host, why in logs.unreachable.items():
                if host not in reported:
                    err.print(f"[yellow]{escape(host)}: unreachable: {escape(str(why))}[/]",
                              highlight=False)
                    reported.add(host)
    except KeyboardInterrupt:
        return 0
    return 1 if logs.unreachable else 0


async def _pod(args: argparse.Namespace) -> None:
    params = log_params(container=args.container, follow=args.follow, tail_lines=args.tail,
                        since_seconds=since_seconds(args.since))
    async with Client.from_kubeconfig(kubeconfig_for(args)) as client:
        async for chunk in pod_log(client, args.pod, namespace=args.namespace, params=params):
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()


def run(args: argparse.Namespace) -> int:
    if args.component:
        if args.pod:
            raise UserError("give either POD or --component, not both")
        return _component(args)
    if not args.pod:
        raise UserError("expected a POD name or --component NAME")
    try:
        with api_errors(kubeconfig_for(args)):
            asyncio.run(_pod(args))
    except KeyboardInterrupt:
        return 0
    except ApiError as err:  # a 4xx answer (api_errors words the others)
        sys.stderr.write(f"Error from server ({err.reason}): {err.message}\n")
        return 1
    return 0
