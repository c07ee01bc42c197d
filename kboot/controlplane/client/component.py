"""What every control-plane process shares: the common flags (kubeconfig, leader election,
log level), duration parsing, and how a process starts and stops.

- :func:`run_process` is every component's ``main``: logging set up one way, the work run on
  the control-plane runtime (uvloop, tuned GC), SIGINT/SIGTERM cancel it (its ``finally``
  blocks close clients and servers), and the outcome mapped to an exit code — an expected
  :class:`~kboot.controlplane.errors.ControlPlaneError` is one log line and exit 1, anything
  else is a bug and keeps its traceback.
- :func:`run_component` builds on it for the API-client components: connects with the
  kubeconfig and optionally waits to lead before running the work.

Every component starts through here: the scheduler, controller manager, ingress, hollow
nodes, DNS, proxy and kubelet with :func:`run_component` or :func:`run_process`, the apiserver
with :func:`run_process` (no API client; its ``serve`` drains in its ``finally`` when the
signal cancels it).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from kboot.controlplane import runtime
from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.leaderelection import (
    LeaderElectionConfig,
    run_with_leader_election,
)
from kboot.controlplane.client.rest import Client
from kboot.controlplane.errors import ControlPlaneError

log = logging.getLogger(__name__)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """``15s``, ``1m30s``, ``500ms`` or a bare number of seconds."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")


def add_log_flags(parser: argparse.ArgumentParser, *, verbose: bool = False) -> None:
    """``--v``/``--log-level`` (a level name or upstream's 0-9); with ``verbose``, also the
    ``-v``/``--verbose`` switch (DEBUG) that the DNS, proxy and kubelet have always taken."""
    parser.add_argument("--v", "--log-level", dest="log_level", default="INFO")
    if verbose:
        parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG")


def log_level(args: argparse.Namespace) -> str:
    """The level the flags of :func:`add_log_flags` ask for."""
    return "DEBUG" if getattr(args, "verbose", False) else str(args.log_level)


def add_common_flags(parser: argparse.ArgumentParser, *, leader_elect: bool = True,
                     verbose: bool = False) -> None:
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig of this component")
    add_log_flags(parser, verbose=verbose)
    if not leader_elect:
        return
    parser.add_argument("--leader-elect", type=_bool, nargs="?", const=True, default=True)
    parser.add_argument("--leader-elect-lease-duration", type=parse_duration, default=15.0)
    parser.add_argument("--leader-elect-renew-deadline", type=parse_duration, default=10.0)
    parser.add_argument("--leader-elect-retry-period", type=parse_duration, default=2.0)
    parser.add_argument("--leader-elect-resource-namespace", default="kube-system")
    parser.add_argument("--identity", default=f"{socket.gethostname()}_{uuid.uuid4()}")


def setup_logging(level: str) -> None:
    numeric = {"0": "WARNING", "1": "INFO", "2": "INFO"}.get(level, level).upper()
    logging.basicConfig(level=getattr(logging, numeric if not numeric.isdigit() else "DEBUG",
                                      logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


Work = Callable[[ApiClient], Awaitable[None]]
Main = Callable[[], Coroutine[Any, Any, int | None]]


def run_process(name: str, level: str, main: Main) -> int:
    """Run ``main()`` as the whole process ``name``; its result (None = 0) is the exit code."""
    setup_logging(level)

    async def supervise() -> int:
        task = asyncio.create_task(main())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await task or 0
        except asyncio.CancelledError:
            log.info("%s: stopped by signal (pid %d)", name, os.getpid())
            return 0
        except ControlPlaneError as exc:
            log.error("%s: %s", name, exc)
            log.debug("%s: traceback", name, exc_info=True)
            return 1

    return runtime.run(supervise())


async def _run(args: argparse.Namespace, lease_name: str, work: Work) -> int:
    client = Client.from_kubeconfig(args.kubeconfig)
    try:
        if not getattr(args, "leader_elect", False):
            await work(client)
            return 0
        config = LeaderElectionConfig(
            lease_duration=args.leader_elect_lease_duration,
            renew_deadline=args.leader_elect_renew_deadline,
            retry_period=args.leader_elect_retry_period,
            namespace=args.leader_elect_resource_namespace)
        kept = await run_with_leader_election(client, name=lease_name, identity=args.identity,
                                              callback=lambda: work(client), config=config)
        if not kept:
            log.error("%s: leadership lost; exiting so the supervisor restarts us", lease_name)
            return 1
        return 0
    finally:
        await client.close()


def run_component(args: argparse.Namespace, *, lease_name: str, work: Work) -> int:
    """Run ``work`` (under leader election on Lease ``lease_name`` when enabled)."""
    return run_process(lease_name, log_level(args), lambda: _run(args, lease_name, work))
