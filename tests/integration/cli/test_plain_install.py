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
# every command path from the installed parser, each one's --help run through main(): its exit
# code (or the exception a user would see as a traceback) and what it printed
HELP_EVERY_COMMAND = """
import contextlib, io, json
from kboot.cli.main import build_parser, command_paths, main
results = []
for words in command_paths(build_parser()):
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            main([*words, "--help"])
        code = "returned instead of exiting"
    except SystemExit as exit:
        code = exit.code
    except BaseException as exc:
        code = repr(exc)
    results.append([words, code, out.getvalue()])
print(json.dumps(results))
"""


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

    top = subprocess.run([str(bin_dir / "kboot"), "--help"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=False)
    assert top.returncode == 0 and "usage: kboot" in top.stdout, top.stderr
    # every (sub)command's --help in one process of the installed venv (one CLI start instead
    # of one per command, ~1.6 s CPU each): an import the plain install lacks still fails the
    # command that makes it, since a failed import is never cached
    helped = subprocess.run([str(bin_dir / "python"), "-c", HELP_EVERY_COMMAND], env=env,
                            cwd=tmp_path, capture_output=True, text=True, check=True)
    shown = {tuple(words): (code, out) for words, code, out in json.loads(helped.stdout)}
    assert ("up",) in shown and ("lab", "ssh") in shown  # the walk reaches nested commands
    for words, (code, out) in shown.items():
        name = " ".join(("kboot", *words))
        assert code == 0, f"{name} --help: {code}"
        assert "usage: kboot" in out, f"{name} --help: {out}"
    completion = subprocess.run([str(bin_dir / "kboot"), "completion", "bash"], env=env,
                                cwd=tmp_path, capture_output=True, text=True, check=False)
    assert completion.returncode == 0 and "complete " in completion.stdout, completion.stderr
