"""The envelope of every cluster-changing command: the run lock, then the inventory's hooks.

``with guarded(...)``: take the cluster's run lock (:mod:`kboot.cluster.lock`), run the
``before_<event>`` hooks, the body, then the ``after_<event>`` hooks (in reverse order of the
events, so ``up`` that is an upgrade runs before_up, before_upgrade, …, after_upgrade,
after_up), and release the lock whatever happened. A failing body skips the ``after`` hooks:
they announce success.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from collections.abc import Iterator, Mapping, Sequence

from rich.console import Console
from rich.markup import escape

from kboot.cluster.hooks import Hook, run_hooks
from kboot.cluster.lock import cluster_lock
from kboot.cluster.topology import Topology
from kboot.inventory import Inventory
from kboot.playbook.state import TransportFactory


def add_lock_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force-unlock", action="store_true",
                        help="clear a run lock left by a dead run before taking it")


@contextlib.contextmanager
def guarded(inventory: Inventory, topo: Topology, command: str, events: Sequence[str], *,
            console: Console, force_unlock: bool = False,
            transports_factory: TransportFactory | None = None,
            env: Mapping[str, str] | None = None,
            unreachable_ok: bool = False) -> Iterator[None]:
    def on_hook(hook: Hook, status: str) -> None:
        if status == "start":
            where = hook.hosts
            console.print(f"[bold]{escape(hook.label)}[/] on {escape(where)}")
        elif status == "failed":
            console.print(f"[bold red]{escape(hook.label)}: failed[/]")

    argv = sys.argv[1:]  # the lock's owner shows the command line as typed, when there is one
    shown = f"kboot {shlex.join(argv)}" if argv and argv[0] == command.split()[1] else command
    with cluster_lock(inventory, topo, shown, force=force_unlock,
                      transports_factory=transports_factory, unreachable_ok=unreachable_ok):
        for event in events:
            run_hooks(inventory, f"before_{event}", env=env,
                      transports_factory=transports_factory, on_hook=on_hook)
        yield
        for event in reversed(events):
            run_hooks(inventory, f"after_{event}", env=env,
                      transports_factory=transports_factory, on_hook=on_hook)
