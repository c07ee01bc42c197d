"""The Store contract over the memory and SQLite backends (the etcd run is an integration test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.store.contract import Backend, StoreContract, unique_prefix


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "memory":
        return Backend("memory://", unique_prefix())
    return Backend(f"sqlite://{tmp_path}/kboot.db", unique_prefix())


class TestContract(StoreContract):
    pass
