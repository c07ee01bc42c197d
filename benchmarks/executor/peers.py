"""The peers' separate virtualenv: ansible-core and pyinfra, never in kboot's own environment.

Created on first use with the interpreter running the benchmark (``python -m venv``), then
``pip install ansible-core pyinfra`` from the configured package index; reused afterwards.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_VENV = Path("/var/cache/kboot/bench-venv")
PACKAGES = ("ansible-core", "pyinfra")


def ensure_venv(venv: Path) -> Path:
    """The venv's ``bin`` directory, with ansible-playbook and pyinfra installed."""
    bin_dir = venv / "bin"
    if (bin_dir / "ansible-playbook").exists() and (bin_dir / "pyinfra").exists():
        return bin_dir
    log.info("creating %s with %s", venv, ", ".join(PACKAGES))
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(bin_dir / "pip"), "install", "-q", *PACKAGES], check=True)
    return bin_dir


def versions(bin_dir: Path) -> dict[str, str]:
    """Installed versions of the peers (for the report)."""
    out = subprocess.run([str(bin_dir / "pip"), "list", "--format=freeze"], check=True,
                         capture_output=True, text=True).stdout
    pins = dict(line.split("==", 1) for line in out.splitlines() if "==" in line)
    return {name: pins.get(name, "?") for name in (*PACKAGES, "paramiko")}
