"""Shared builders for the backup/restore unit tests: a small inventory, a workstation state
dir under a temporary ``KBOOT_HOME``, and a fake playbook runner that records what it ran."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kboot.cluster.topology import Topology
from kboot.cluster.up import PhaseOutcome
from kboot.inventory import Connection, Group, Host, Inventory

STATE_FILES = {
    "encryption.yaml": "kind: EncryptionConfiguration # key1\n",
    "pki/ca.crt": "CA-1\n",
    "pki/etcd/ca.crt": "ETCD-CA-1\n",
    "pki/sa.key": "SA-KEY\n",
    "kubeconfigs/admin.kubeconfig": "admin\n",
}


def make_inventory(cps: int = 3, workers: int = 1, *, name: str = "prod",
                   host_vars: dict[str, dict[str, object]] | None = None) -> Inventory:
    hosts = {}
    for i in range(1, cps + 1):
        hosts[f"cp{i}"] = Host(f"cp{i}", Connection(address=f"10.0.0.{10 + i}"),
                               vars=dict((host_vars or {}).get(f"cp{i}", {})))
    for i in range(1, workers + 1):
        hosts[f"w{i}"] = Host(f"w{i}", Connection(address=f"10.0.0.{20 + i}"))
    groups = {
        "control_plane": Group("control_plane", hosts=tuple(h for h in hosts if "cp" in h)),
        "workers": Group("workers", hosts=tuple(h for h in hosts if h.startswith("w"))),
    }
    return Inventory(f"{name}.yaml", hosts, groups, cluster={"name": name})


@pytest.fixture
def kboot_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("KBOOT_HOME", str(home))
    return home


def write_state(home: Path, cluster: str, **overrides: str) -> Path:
    state = home / "clusters" / cluster
    for rel, text in {**STATE_FILES, **overrides}.items():
        (state / rel).parent.mkdir(parents=True, exist_ok=True)
        (state / rel).write_text(text)
    return state


def no_api(topo: Topology, kubeconfig: Path) -> None:
    """An API step (``restore``'s forget) for flows without an apiserver: nothing to do."""


@dataclass
class FakeRunner:
    """Records (playbook relative name, inventory); ``act`` decides each outcome."""

    act: Callable[[str, Inventory], PhaseOutcome] = lambda book, inv: PhaseOutcome(ok=True)
    calls: list[tuple[str, Inventory]] = field(default_factory=list)

    def __call__(self, playbook: Path, inventory: Inventory, *, phase: str) -> PhaseOutcome:
        name = f"{playbook.parent.name}/{playbook.name}"
        assert playbook.is_file(), playbook
        self.calls.append((name, inventory))
        return self.act(name, inventory)
