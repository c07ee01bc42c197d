"""``kboot``: the command-line entry point.

Each subcommand lives in ``kboot.cli.commands.<name>`` (without dashes: ``remove-node`` in
``removenode``) and exposes
``register(subparsers) -> None``; the parser it adds sets ``func`` (``argparse.Namespace -> int``).
Expected errors (:class:`kboot.errors.KbootError`) print one clear message and exit 2 for user
mistakes, 1 otherwise; anything else is a bug and keeps its traceback. Their text is the
user's (paths, names, YAML values), so it is escaped before rich reads markup in it. A shell's
TAB runs ``main`` too: :mod:`kboot.cli.completion` answers it before anything else.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from kboot import __version__
from kboot.cli.completion import autocomplete_if_asked
from kboot.errors import KbootError, UserError

COMMAND_MODULES = (
    "run",
    "inventory",
    "lab",
    "image",
    "bundle",
    "up",
    "kubeconfig",
    "kubectl",
    "reset",
    "remove-node",
    "backup",
    "restore",
    "status",
    "certs",
    "logs",
    "exec",
    "get",
    "apply",
    "delete",
    "completion",
)

EPILOG = """examples:
  kboot lab up --control-planes 3 --workers 2     # local test machines
  kboot up inventories/lab-kboot.yaml             # bring up an HA cluster
  kboot run site.yaml -i inventories/prod.yaml --check --diff
  kboot inventory show inventories/prod.yaml --host cp1
"""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The CLI parser; ``only`` registers just that subcommand (each command module may pull
    in heavy dependencies, e.g. aiohttp for ``get``: ``kboot run`` should not pay for them)."""
    parser = argparse.ArgumentParser(
        prog="kboot",
        description="Agentless, push-based cluster bootstrapper and manager.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kboot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in (only,) if only in COMMAND_MODULES else COMMAND_MODULES:
        module = importlib.import_module(f"kboot.cli.commands.{name.replace('-', '')}")
        module.register(sub)
    return parser


def command_paths(parser: argparse.ArgumentParser) -> list[tuple[str, ...]]:
    """Every (sub)command reachable from ``parser``, as word tuples (``("lab", "ssh")``), read
    from the parser itself: the plain-install test runs each one's ``--help`` without a list of
    its own that could drift from what is registered."""
    paths: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                paths.append((name,))
                paths.extend((name, *rest) for rest in command_paths(child))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        autocomplete_if_asked(build_parser)  # the shell's TAB: prints completions and exits
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words[0] if words else None)
    args = parser.parse_args(words)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    err = Console(stderr=True, soft_wrap=True)  # an error names paths: never break them
    try:
        rc: int = args.func(args)
        return rc
    except UserError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
        return 2
    except KbootError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
        return 1
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
