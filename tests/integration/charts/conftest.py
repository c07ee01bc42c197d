"""Fixtures for the chart modules: one in-process control plane (memory-store apiserver,
controller-manager, scheduler, hollow nodes) per module and a real Helm 3 pointed at it.

Helm's binary: see tests/fixtures/helm.py; the modules skip when it is absent.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.fixtures.helm import Helm, helm_binary
from tests.integration.controllers.cluster import ControlPlane, control_plane


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
