"""A workstation install is a plain ``pip install .``: no extras. Into a fresh virtualenv, then
``kboot --help`` and every (sub)command's ``--help`` — the list read from the installed parser,
so a new command is covered without touching this test. Catches a command module importing
something only the ``controlplane`` extra brings (``ModuleNotFoundError`` at ``--help``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

TREE = Path(__file__).resolve().parents[3]
LIST_COMMANDS = (
    "import json; from kboot.cli.main import build_parser, command_paths; "
    "print(json.dumps(command_paths(build_parser())))"
)


def _clean_env() -> dict[str, str]:
    """This process's environment without what would make the venv see the source tree."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(sys.prefix))
    return env


def test_plain_pip_install_gives_a_working_cli(tmp_path: Path) -> None:
    env = _clean_env()
    venv.create(tmp_path / "venv", with_pip=True)
    bin_dir = tmp_path / "venv" / "bin"
    install = subprocess.run([str(bin_dir / "pip"), "install", "-q", str(TREE)], env=env,
                             cwd=tmp_path, capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stderr
    # Installed, not from the tree; and the host-only packages really are absent.
    probe = subprocess.run(
        [str(bin_dir / "python"), "-c",
         "import importlib.util as u, kboot; print(kboot.__file__); "
         "print([m for m in ('aetcd', 'grpc', 'uvloop') if u.find_spec(m)])"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    where, extras = probe.stdout.splitlines()
    assert where.startswith(str(tmp_path)), where
    assert extras == "[]", f"controlplane-only packages installed without the extra: {extras}"

    listed = subprocess.run([str(bin_dir / "python"), "-c", LIST_COMMANDS], env=env,
                            cwd=tmp_path, capture_output=True, text=True, check=True)
    paths = [tuple(p) for p in json.loads(listed.stdout)]
    assert ("up",) in paths and ("lab", "ssh") in paths  # the walk reaches nested commands
    for words in [(), *paths]:
        result = subprocess.run([str(bin_dir / "kboot"), *words, "--help"], env=env,
                                cwd=tmp_path, capture_output=True, text=True, check=False)
        shown = " ".join(("kboot", *words))
        assert result.returncode == 0, f"{shown} --help: {result.stderr}"
        assert "Traceback" not in result.stderr + result.stdout, f"{shown} --help"
        assert "usage: kboot" in result.stdout, f"{shown} --help"
    completion = subprocess.run([str(bin_dir / "kboot"), "completion", "bash"], env=env,
                                cwd=tmp_path, capture_output=True, text=True, check=False)
    assert completion.returncode == 0 and "complete " in completion.stdout, completion.stderr
