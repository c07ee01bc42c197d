"""``kboot exec``: run a command in a pod (like ``kubectl exec``), or on many hosts in parallel
(``--hosts PATTERN``) with per-host output and exit codes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import shlex
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.console import Console

from kboot.cli.commands.get import (
    add_kubeconfig_arg,
    api_errors,
    kubeconfig_for,
)
from kboot.cli.completion import complete, host_patterns
from kboot.cluster.exec import HostOutput, PodExec, exec_in_pod, exec_on_hosts
from kboot.controlplane.client.errors import ApiError
from kboot.errors import UserError
from kboot.inventory import load_inventory
from kboot.playbook import default_transports

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot exec inventories/prod.yaml web-0 -n hello -- ls /
  kboot exec inventories/prod.yaml web-0 -it -- sh                  # interactive shell
  echo hi | kboot exec inventories/prod.yaml web-0 -i -- cat
  kboot exec inventories/prod.yaml --hosts all -- uptime            # every host, in parallel
  kboot exec inventories/prod.yaml --hosts workers --become -- 'journalctl -u containerd | tail'
"""


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--container", metavar="C", help="the pod's container")
    p.add_argument("-n", "--namespace", metavar="NS", help="the pod's namespace (default: default)")
    p.add_argument("-i", "--stdin", action="store_true", help="forward standard input")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a terminal")
    p.add_argument("-it", dest="it", action="store_true", help=argparse.SUPPRESS)
    complete(p.add_argument("--hosts", metavar="PATTERN",
                            help="run on these inventory hosts instead"), host_patterns)
    p.add_argument("--become", action="store_true", help="with --hosts: run as root (sudo)")
    p.add_argument("--forks", type=int, metavar="N", help="with --hosts: parallel hosts (20)")
    add_kubeconfig_arg(p)


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("exec", help="run a command in a pod or on hosts",
                              description=__doc__, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inventory", metavar="INVENTORY")
    _options(p)
    p.add_argument("rest", nargs=argparse.REMAINDER, metavar="[POD] -- COMMAND …")
    p.set_defaults(func=run)


def split_args(args: argparse.Namespace) -> tuple[argparse.Namespace, str | None, list[str]]:
    """Options given anywhere, the pod (if any) and the command after ``--``."""
    rest = list(args.rest)
    command: list[str] = []
    if "--" in rest:
        cut = rest.index("--")
        rest, command = rest[:cut], rest[cut + 1:]
    inner = argparse.ArgumentParser(prog="kboot exec", add_help=False)
    _options(inner)
    inner.add_argument("words", nargs="*")
    try:
        parsed = inner.parse_args(rest)
    except SystemExit:
        raise UserError(f"cannot parse {' '.join(rest)!r}; see kboot exec --help") from None
    merged = argparse.Namespace(**{k: v for k, v in vars(args).items() if k != "rest"})
    for key, value in vars(parsed).items():
        if key != "words" and value not in (None, False):
            setattr(merged, key, value)
    if merged.it:
        merged.stdin = merged.tty = True
    words = list(parsed.words)
    if merged.hosts:
        return merged, None, words + command
    if not words:
        raise UserError("expected a POD (or --hosts PATTERN) and -- COMMAND")
    return merged, words[0], words[1:] + command


@contextlib.contextmanager
def _raw_tty(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(0)
    tty.setraw(0)
    try:
        yield
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)


def _terminal_size() -> tuple[int, int]:
    size = os.get_terminal_size(0)
    return size.columns, size.lines


def _sink(channel: int, data: bytes) -> None:
    stream = sys.stderr.buffer if channel == 2 else sys.stdout.buffer
    stream.write(data)
    stream.flush()


def _pod(args: argparse.Namespace, pod: str, command: list[str]) -> int:
    if not command:
        raise UserError("expected a command after --, e.g. kboot exec INV POD -- sh")
    tty = bool(args.tty and sys.stdin.isatty())
    if args.tty and not tty:  # as kubectl does
        sys.stderr.write("Unable to use a TTY - input is not a terminal or the right kind "
                         "of file\n")
    spec = PodExec(pod, args.namespace or "default", tuple(command), container=args.container,
                   stdin=bool(args.stdin), tty=tty, size=_terminal_size() if tty else None)
    try:
        kubeconfig = kubeconfig_for(args)
        with api_errors(kubeconfig), _raw_tty(tty):
            result = asyncio.run(exec_in_pod(kubeconfig, spec, sink=_sink,
                                             read=lambda: os.read(0, 65536),
                                             terminal_size=_terminal_size if tty else None))
    except ApiError as err:  # a 4xx answer (api_errors words the others)
        sys.stderr.write(f"Error from server ({err.reason}): {err.message}\n")
        return 1
    if result.message:
        sys.stderr.write(f"error: {result.message}\n")
    elif result.exit_code:
        sys.stderr.write(f"command terminated with exit code {result.exit_code}\n")
    return result.exit_code


def render_host(out: HostOutput) -> str:
    state = (f"exit {out.exit_code}" if out.exit_code is not None else "UNREACHABLE")
    lines = [f"── {out.host} ({state}) ──"]
    for text in (out.stdout, out.stderr, out.message):
        if text.strip():
            lines.append(text.rstrip("\n"))
    return "\n".join(lines) + "\n"


def summary(outputs: list[HostOutput]) -> str:
    ok = sum(o.ok for o in outputs)
    unreachable = sum(o.exit_code is None for o in outputs)
    failed = len(outputs) - ok - unreachable
    return f"{len(outputs)} host(s): {ok} ok, {failed} failed, {unreachable} unreachable"


def _hosts(args: argparse.Namespace, command: list[str]) -> int:
    if not command:
        raise UserError("expected a command after --, e.g. kboot exec INV --hosts all -- uptime")
    line = command[0] if len(command) == 1 else shlex.join(command)
    inventory = load_inventory(args.inventory)
    outputs = exec_on_hosts(inventory, args.hosts, line, become=args.become,
                            forks=args.forks or 20,
                            transports_factory=default_transports(inventory,
                                                                  prompt=getpass.getpass))
    console = Console(soft_wrap=True, highlight=False)
    for out in outputs:
        console.print(render_host(out), markup=False, end="")
    console.print(summary(outputs), markup=False)
    return 0 if all(o.ok for o in outputs) else 1


def run(args: argparse.Namespace) -> int:
    merged, pod, command = split_args(args)
    if pod is None:
        return _hosts(merged, command)
    return _pod(merged, pod, command)
