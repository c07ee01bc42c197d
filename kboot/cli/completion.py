"""Shell completion (bash, zsh, fish) through argcomplete: the argparse parser is the one source
of truth for commands and flags; the completers here add what the parser cannot know: an
inventory's hosts and groups, the labs on this machine and their nodes, the kinds ``kboot get``
takes.

The shell runs ``kboot`` with ``_ARGCOMPLETE=1`` on every TAB, so :func:`autocomplete_if_asked`
builds only the parser of the command already typed (``build_parser(only=…)``, as ``main``
does): a TAB does not import every command's dependencies. Completers never raise: a missing or
broken inventory simply completes nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
from collections.abc import Callable, Iterable
from typing import Any, Protocol

SHELLS = ("bash", "zsh", "fish")


class Completer(Protocol):
    def __call__(self, *, prefix: str, parsed_args: argparse.Namespace,
                 **kwargs: Any) -> Iterable[str]: ...


def complete(action: argparse.Action, completer: Completer) -> argparse.Action:
    """Attach a completer to an argument (argcomplete reads ``action.completer``)."""
    action.completer = completer  # type: ignore[attr-defined]
    return action


def _quiet(fn: Callable[..., Iterable[str]]) -> Completer:
    """A completer that completes nothing rather than fail (it runs inside the user's TAB)."""
    def wrapped(*, prefix: str, parsed_args: argparse.Namespace, **kwargs: Any) -> list[str]:
        try:
            return [c for c in fn(prefix=prefix, parsed_args=parsed_args) if c.startswith(prefix)]
        except Exception:
            return []
    return wrapped


def _inventory_names(parsed_args: argparse.Namespace, *, groups: bool) -> list[str]:
    from kboot.inventory import load_inventory

    path = getattr(parsed_args, "inventory", None)
    if not path:
        return []
    inventory = load_inventory(path)
    return [*inventory.hosts, *(inventory.groups if groups else ())]


@_quiet
def inventory_hosts(*, prefix: str, parsed_args: argparse.Namespace) -> list[str]:
    """The inventory's host names (``--host``, ``remove-node NODE``)."""
    return _inventory_names(parsed_args, groups=False)


@_quiet
def host_patterns(*, prefix: str, parsed_args: argparse.Namespace) -> list[str]:
    """Hosts and groups for a pattern (``-l``, ``--hosts``): the last element of
    ``workers:!w3`` is completed, what comes before it is kept."""
    head, element = re.match(r"(.*[:,][!&]?|[!&]?)(.*)", prefix).groups()  # type: ignore[union-attr]
    return [head + name for name in _inventory_names(parsed_args, groups=True)
            if name.startswith(element)]


@_quiet
def labs(*, prefix: str, parsed_args: argparse.Namespace) -> list[str]:
    from kboot.lab import lab_names as names

    return names()


@_quiet
def lab_nodes(*, prefix: str, parsed_args: argparse.Namespace) -> list[str]:
    """The nodes of the lab named by ``--name`` (short names first: ``cp1``, then ``demo-cp1``);
    when that lab does not exist (``--name`` may come after the node, not parsed yet), every
    lab's nodes by full name."""
    from kboot.errors import LabError
    from kboot.lab import Lab
    from kboot.lab import lab_names as names

    try:
        nodes = Lab(parsed_args.name).existing_nodes()
    except LabError:
        return [n.name for lab in names() for n in Lab(lab).existing_nodes()]
    return [*(n.short for n in nodes), *(n.name for n in nodes)]


@_quiet
def kinds(*, prefix: str, parsed_args: argparse.Namespace) -> list[str]:
    """Resource kinds by plural and short name (``pods``, ``po``, ``deployments``, ``deploy``)."""
    from kboot.controlplane.api.registry import KINDS

    names = dict.fromkeys(name for kind in KINDS for name in (kind.plural, *kind.short_names))
    return sorted(names)


@_quiet
def delete_targets(*, prefix: str, parsed_args: argparse.Namespace) -> Iterable[str]:
    """``kboot delete INV KIND NAME…``: the kind first (names would need the API)."""
    if parsed_args.target:
        return []
    return kinds(prefix=prefix, parsed_args=parsed_args)


def shell_script(shell: str) -> str:
    """What the user's shell evaluates (or keeps in its completion directory) for ``kboot``."""
    from argcomplete.shell_integration import shellcode

    return shellcode(["kboot"], shell=shell)


def typed_command(line: str) -> str | None:
    """The subcommand of a partly typed ``kboot …`` line, once it is complete (a word follows
    it, or a space): only then may the parser be built for that command alone."""
    try:
        words = shlex.split(line)
    except ValueError:  # an open quote: the words so far are still good enough
        words = line.split()
    if len(words) > 2 or (len(words) == 2 and line[-1:].isspace()):
        return words[1]
    return None


def autocomplete_if_asked(build_parser: Callable[[str | None], argparse.ArgumentParser]) -> None:
    """When the shell asks for completions, print them and exit (argcomplete's protocol);
    otherwise return at once."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    import argcomplete

    line = os.environ.get("COMP_LINE", "")
    point = int(os.environ.get("COMP_POINT", len(line)))
    argcomplete.autocomplete(build_parser(typed_command(line[:point])))
