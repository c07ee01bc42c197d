"""Fixtures shared by the controller integration modules; each module provides ``server``
(its own apiserver and store), these build the control plane and a client on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kboot.controlplane.client.sync import SyncClient
from tests.fixtures.apiserver import ApiServer

from .cluster import ControlPlane, control_plane


@pytest.fixture(scope="module")
def cp(server: ApiServer) -> Iterator[ControlPlane]:
    with control_plane(server, nodes=3) as plane:
        yield plane


@pytest.fixture(scope="module")
def client(server: ApiServer) -> Iterator[SyncClient]:
    with SyncClient.from_kubeconfig(server.kubeconfig) as c:
        yield c
