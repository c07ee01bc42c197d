"""The verify phase's smoke pod: run on every changing ``kboot up``; on a run that changed no
host only until one has passed on the same nodes (the Ready check always runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kboot.cluster import verify as verify_mod
from kboot.cluster.topology import Topology, topology_from_inventory
from kboot.cluster.verify import verify_cluster, verify_unchanged
from kboot.errors import ClusterError
from kboot.inventory import Connection, Group, Host, Inventory


class FakeApi:
    """The calls verify makes; the smoke pod ends in ``phase``."""

    def __init__(self, phase: str = "Succeeded") -> None:
        self.phase = phase
        self.calls: list[str] = []

    def __enter__(self) -> FakeApi:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def wait_nodes_ready(self, count: int, *, timeout: float) -> list[Any]:
        self.calls.append(f"ready {count}")
        return []

    def list(self, ref: str, **_: Any) -> list[Any]:
        return []

    def create(self, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append("create smoke pod")
        return {"metadata": {"name": "kboot-smoke-x"}}

    def wait_for(self, ref: str, predicate: Any, **_: Any) -> list[Any]:
        pod = {"metadata": {"name": "kboot-smoke-x"}, "status": {"phase": self.phase}}
        assert predicate([pod])
        return [pod]

    def delete(self, ref: str, name: str, **_: Any) -> dict[str, Any]:
        return {}


def _topology(workers: tuple[str, ...] = ("w1",)) -> Topology:
    hosts = {n: Host(n, Connection(address=f"10.0.0.{i}"))
             for i, n in enumerate(("cp1", *workers), 11)}
    groups = {"control_plane": Group("control_plane", hosts=("cp1",)),
              "workers": Group("workers", hosts=workers)}
    return topology_from_inventory(Inventory("inv.yaml", hosts, groups, cluster={"name": "t"}))


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeApi:
    monkeypatch.setenv("KBOOT_HOME", str(tmp_path))
    fake = FakeApi()
    monkeypatch.setattr(verify_mod.SyncClient, "from_kubeconfig",
                        staticmethod(lambda path: fake))
    return fake


def test_an_unchanged_run_skips_the_smoke_pod_once_one_passed_on_these_nodes(
        api: FakeApi) -> None:
    verify_unchanged(_topology(), Path("admin.kubeconfig"))  # none passed yet: full verify
    assert api.calls == ["ready 2", "create smoke pod"]
    api.calls.clear()
    verify_unchanged(_topology(), Path("admin.kubeconfig"))
    assert api.calls == ["ready 2"]
    api.calls.clear()
    verify_unchanged(_topology(("w1", "w2")), Path("admin.kubeconfig"))  # other nodes
    assert api.calls == ["ready 3", "create smoke pod"]


def test_a_failed_smoke_pod_is_tried_again_by_the_next_unchanged_run(api: FakeApi) -> None:
    verify_cluster(_topology(), Path("admin.kubeconfig"))
    api.phase = "Failed"
    with pytest.raises(ClusterError, match="smoke pod kube-system/kboot-smoke-x failed"):
        verify_cluster(_topology(), Path("admin.kubeconfig"))
    api.calls.clear()
    api.phase = "Succeeded"
    verify_unchanged(_topology(), Path("admin.kubeconfig"))
    assert api.calls == ["ready 2", "create smoke pod"]
