"""``kboot completion SHELL`` in real shells: the generated bash code is evaluated in a real
bash, which then completes as it would on TAB (COMP_LINE/COMP_POINT, the function the code
registered with ``complete``); zsh and fish are not installed here, so their code is checked
to reach kboot through the same protocol, driven the way their scripts drive it."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kboot.controlplane.api.registry import KINDS

pytestmark = pytest.mark.integration

TREE = Path(__file__).resolve().parents[3]
INVENTORY = """\
hosts:
  cp1: {address: 10.0.0.1}
  w1: {address: 10.0.0.2}
groups:
  control_plane: {hosts: [cp1]}
  workers: {hosts: [w1]}
"""

BASH = r"""
source "$KBOOT_BASH_COMPLETION"
complete -p kboot
line=$1
COMP_LINE=$line COMP_POINT=${#line}
read -ra COMP_WORDS <<<"$line"
[[ $line == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
fn=$(complete -p kboot | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
"$fn" kboot "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A ``kboot`` on PATH that runs this tree (as an installed entry point would)."""
    bin_dir = tmp_path_factory.mktemp("bin")
    kboot = bin_dir / "kboot"
    kboot.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m kboot.cli.main \"$@\"\n")
    kboot.chmod(kboot.stat().st_mode | stat.S_IXUSR)
    (bin_dir / "inv.yaml").write_text(INVENTORY)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(TREE), "INV": str(bin_dir / "inv.yaml")}
    # what a user keeps in bash's completion directory, generated once for the module (each
    # case's bash sources it: one CLI start per TAB, not two)
    code = subprocess.run(["kboot", "completion", "bash"], env=env, capture_output=True,
                          text=True, check=True).stdout
    (bin_dir / "kboot.bash").write_text(code)
    return {**env, "KBOOT_BASH_COMPLETION": str(bin_dir / "kboot.bash")}


def bash_complete(env: dict[str, str], line: str) -> list[str]:
    line = line.replace("$INV", env["INV"])
    out = subprocess.run(["bash", "--norc", "-c", BASH, "bash", line], env=env,
                         capture_output=True, text=True, check=True)
    registration, *candidates = out.stdout.splitlines()
    assert registration.startswith("complete ") and registration.endswith(" kboot")
    return candidates


@pytest.mark.parametrize(("line", "expected"), [
    ("kboot ", {"up", "run", "lab", "get", "completion", "--help"}),
    ("kboot re", {"reset", "restore", "remove-node"}),
    ("kboot lab ", {"ssh", "up", "down", "partition"}),
    ("kboot up $INV --", {"--check", "--diff", "--limit", "--forks"}),
    ("kboot up $INV --limit ", {"cp1", "w1", "control_plane", "workers"}),
    ("kboot run site.yaml -i $INV -l w", {"w1", "workers"}),
    ("kboot get $INV dep", {"deployments", "deploy"}),
    ("kboot completion ", {"bash", "zsh", "fish"}),
])
def test_bash_completes(env: dict[str, str], line: str, expected: set[str]) -> None:
    candidates = {c.strip() for c in bash_complete(env, line)}
    assert expected <= candidates, candidates


def test_bash_completes_nothing_unrelated(env: dict[str, str]) -> None:
    assert {c.strip() for c in bash_complete(env, "kboot lab ss")} == {"ssh"}


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_code_reaches_kboots_completions(env: dict[str, str], shell: str) -> None:
    script = subprocess.run(["kboot", "completion", shell], env=env, capture_output=True,
                            text=True, check=True).stdout
    assert "_ARGCOMPLETE" in script and "kboot" in script
    line = "kboot get inv.yaml st"
    # what both scripts do: run kboot with the protocol's variables, read fd 8
    out = subprocess.run(
        ["bash", "-c", "kboot 8>&1 9>&2 1>/dev/null 2>&1"],
        env={**env, "_ARGCOMPLETE": "1", "_ARGCOMPLETE_SHELL": shell, "COMP_LINE": line,
             "COMP_POINT": str(len(line)), "_ARGCOMPLETE_IFS": "\n"},
        capture_output=True, text=True, check=True)
    # zsh takes "name:description", fish "name" (a tab before a description)
    names = [re.split(r"[:\t]", entry)[0] for entry in out.stdout.split("\n") if entry]
    # every kind name starting with "st", in the completer's order (plurals and short names of
    # the registry: more kinds may join, e.g. storageclasses did)
    assert names == sorted({name for kind in KINDS for name in (kind.plural, *kind.short_names)
                            if name.startswith("st")})
    assert {"statefulsets", "sts"} <= set(names)
