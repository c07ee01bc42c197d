"""``kboot completion SHELL``: the shell code that completes kboot's commands, flags, inventory
hosts and groups, lab names and nodes, and ``kboot get`` kinds (see kboot.cli.completion).

Examples::

    eval "$(kboot completion bash)"                          # this shell, e.g. in ~/.bashrc
    kboot completion bash > /etc/bash_completion.d/kboot     # every bash on this machine
    eval "$(kboot completion zsh)"                           # in ~/.zshrc, after compinit
    kboot completion fish > ~/.config/fish/completions/kboot.fish
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from kboot.cli.completion import SHELLS, shell_script

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def register(subparsers: SubParsers) -> None:
    p = subparsers.add_parser("completion", help="shell completion code (bash, zsh, fish)",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(shell_script(args.shell))
    return 0
