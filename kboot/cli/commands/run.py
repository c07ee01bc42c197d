"""``kboot run``: run a playbook over an inventory.

Shows live per-host progress, changed and failed tasks (with diffs under ``--diff``), a recap
table, and — on failure — exactly which host, task and command failed with its output tail.
Exit status: 0 when every host succeeded, 1 when any host failed or was unreachable, 2 for
invalid input (playbook, inventory, arguments), reported before anything runs.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from rich.console import Console

from kboot.cli.completion import complete, host_patterns
from kboot.cli.output import JsonRenderer, TextRenderer, failure_summary
from kboot.errors import ConfigError
from kboot.inventory import load_inventory
from kboot.playbook import default_transports, load_playbook, run_playbook
from kboot.tasks.args import ArgError, parse_kv

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXAMPLES = """examples:
  kboot run site.yaml -i inventories/prod.yaml
  kboot run site.yaml -i inventories/prod.yaml --check --diff      # what would change
  kboot run site.yaml -i hosts.ini --limit 'workers:!w3' --forks 20
  kboot run site.yaml -i prod.yaml --tags config --skip-tags slow -e version=1.32 -e @vars.yaml
  kboot run site.yaml -i prod.yaml --output json | jq -c 'select(.status == "failed")'
"""


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "run", help="run a playbook over an inventory", description=__doc__, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("playbook", metavar="PLAYBOOK", help="playbook YAML file")
    parser.add_argument("-i", "--inventory", required=True, metavar="INVENTORY",
                        help="kboot YAML, Ansible YAML or INI inventory")
    parser.add_argument("--check", action="store_true",
                        help="only gather facts and report what would change")
    parser.add_argument("--diff", action="store_true", help="show file differences")
    complete(parser.add_argument("-l", "--limit", metavar="PATTERN",
                                 help="further limit the hosts"), host_patterns)
    parser.add_argument("-t", "--tags", action="append", default=[], metavar="T",
                        help="only tasks with these tags (comma-separated, repeatable)")
    parser.add_argument("--skip-tags", action="append", default=[], metavar="T",
                        help="skip tasks with these tags")
    parser.add_argument("-f", "--forks", type=int, default=10, metavar="N",
                        help="hosts in parallel (default 10)")
    parser.add_argument("-e", "--extra-vars", action="append", default=[], metavar="VARS",
                        help="key=value, YAML/JSON mapping, or @file (highest precedence)")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text",
                        help="text (default) or one JSON event per line")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also list ok and skipped tasks")
    parser.set_defaults(func=run)


def parse_extra_vars(values: Sequence[str]) -> dict[str, Any]:
    """``-e`` values: ``k=v k2=v2``, an inline YAML/JSON mapping, or ``@file``."""
    merged: dict[str, Any] = {}
    for value in values:
        if value.startswith("@"):
            try:
                data = yaml.safe_load(Path(value[1:]).read_text())
            except (OSError, yaml.YAMLError) as exc:
                raise ConfigError(f"-e {value}: {exc}") from exc
        elif value.lstrip().startswith("{"):
            try:
                data = yaml.safe_load(value)
            except yaml.YAMLError as exc:
                raise ConfigError(f"-e {value}: {exc}") from exc
        else:
            try:
                data = parse_kv(value)
            except ArgError as exc:
                raise ConfigError(f"-e {value}: {exc}") from exc
        if not isinstance(data, Mapping):
            raise ConfigError(f"-e {value}: expected a mapping")
        merged.update(data)
    return merged


def _split(values: Sequence[str]) -> list[str]:
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


def run(args: argparse.Namespace) -> int:
    if args.forks < 1:
        raise ConfigError("--forks must be at least 1")
    playbook = load_playbook(args.playbook)  # errors before anything connects
    inventory = load_inventory(args.inventory)
    extra = parse_extra_vars(args.extra_vars)
    factory = default_transports(inventory, prompt=lambda q: getpass.getpass(q))
    out = Console(soft_wrap=True)
    renderer: TextRenderer | JsonRenderer
    if args.output == "json":
        renderer = JsonRenderer(out)
    else:
        renderer = TextRenderer(out, show_diff=args.diff, verbose=args.verbose)
    try:
        summary = run_playbook(playbook, inventory, transports_factory=factory,
                               check=args.check, diff=args.diff, limit=args.limit,
                               tags=_split(args.tags), skip_tags=_split(args.skip_tags),
                               forks=args.forks, extra_vars=extra, on_event=renderer)
    finally:
        renderer.close()
    if not summary.ok:
        text = failure_summary(summary)
        if text:
            Console(stderr=True, soft_wrap=True).print(text, markup=False, highlight=False)
        return 1
    if not summary.results:
        print("no hosts matched", file=sys.stderr)
    return 0
