"""Fixtures for the chart modules: one in-process control plane (memory-store apiserver,
controller-manager, scheduler, hollow nodes) per module and a real Helm 3 pointed at it.

Helm's binary comes from ``scripts/kube-tools.sh`` (``.venv/bin/helm`` next to the running
Python, or ``$KBOOT_TEST_HELM``); the modules skip when it is absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.integration.controllers.cluster import ControlPlane, control_plane


def helm_binary() -> str | None:
    """Helm 3 from ``$KBOOT_TEST_HELM``, beside the interpreter, or on ``PATH``."""
    env = os.environ.get("KBOOT_TEST_HELM")
    if env:
        return env
    beside = Path(sys.executable).parent / "helm"
    return str(beside) if beside.exists() else shutil.which("helm")


@dataclass
class Helm:
    """A real ``helm`` bound to one kubeconfig, with its caches in a private directory so
    that runs neither read nor write the user's Helm configuration."""

    binary: str
    kubeconfig: Path
    home: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig),
               "HELM_CACHE_HOME": str(self.home / "cache"),
               "HELM_CONFIG_HOME": str(self.home / "config"),
               "HELM_DATA_HOME": str(self.home / "data")}
        return subprocess.run([self.binary, *args], capture_output=True, text=True, env=env,
                              timeout=300, check=False)

    def ok(self, *args: str) -> str:
        r = self.run(*args)
        assert r.returncode == 0, f"helm {' '.join(args)} failed:\n{r.stderr}"
        return r.stdout


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with start_apiserver() as srv:
        yield srv


@pytest.fixture(scope="module")
def cp(server: ApiServer) -> Iterator[ControlPlane]:
    with control_plane(server, nodes=2) as plane:
        yield plane


@pytest.fixture(scope="module")
def helm(server: ApiServer) -> Iterator[Helm]:
    binary = helm_binary()
    if binary is None:
        pytest.skip("helm 3 not installed (scripts/kube-tools.sh installs it)")
    home = Path(tempfile.mkdtemp(prefix="kboot-helm-"))
    try:
        yield Helm(binary, server.kubeconfig, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
