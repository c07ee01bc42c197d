"""End-to-end fixtures: ``kboot`` run as users run it (a subprocess of the CLI) against lab
machines, with its state in a temporary ``KBOOT_HOME`` and the bundle cached across runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kboot.lab import Lab

BUNDLE_CACHE = Path(os.environ.get("KBOOT_TEST_BUNDLE", "/var/cache/kboot/bundle"))
KUBECTL = "/usr/bin/kubectl"


@dataclass(frozen=True)
class CheckReport:
    """What ``kboot up --check --diff -o json`` said: its exit status, the (host, task) pairs it
    would change and the file diffs it showed (path → after)."""

    status: int
    changed: frozenset[tuple[str, str]]
    diffs: dict[str, str]


@dataclass
class Kboot:
    home: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "KBOOT_HOME": str(self.home), "HOME": str(self.home),
                "COLUMNS": "200"}

    def __call__(self, *args: str, timeout: float = 900, check: bool = True
                 ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "kboot.cli.main", *args], env=self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kboot {' '.join(args)} exited {proc.returncode}\n"
                                 f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
        return proc

    def up(self, inventory: Path, *extra: str, check: bool = True
           ) -> subprocess.CompletedProcess[str]:
        return self("up", str(inventory), "--bundle", str(BUNDLE_CACHE), *extra, check=check)

    def check(self, inventory: Path) -> CheckReport:
        """``kboot up INVENTORY --check --diff``; a failure (exit 1) is an AssertionError."""
        proc = self.up(inventory, "--check", "--diff", "-o", "json", check=False)
        if proc.returncode not in (0, 2):
            raise AssertionError(f"kboot up --check exited {proc.returncode}\n"
                                 f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
        events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        changed = [e for e in events
                   if e.get("kind") == "task_result" and e["status"] == "changed"]
        return CheckReport(proc.returncode, frozenset((e["host"], e["task"]) for e in changed),
                           {d["path"]: d["after"] for e in changed for d in e["diff"]})

    def kubeconfig(self, cluster: str) -> Path:
        return self.home / "clusters" / cluster / "kubeconfigs" / "admin.kubeconfig"

    def kubectl(self, cluster: str, *args: str, timeout: float = 120, check: bool = True
                ) -> subprocess.CompletedProcess[str]:
        cmd = [KUBECTL, "--kubeconfig", str(self.kubeconfig(cluster)),
               "--cache-dir", str(self.home / "kube-cache"), *args]
        proc = subprocess.run(cmd, env=self.env(), capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {proc.returncode}\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc


DRIFT = "# drifted by hand\n"


def drift_file(lab: Lab, node: str, path: str) -> None:
    """A hand edit of a file kboot renders (what ``--check`` must report, and ``up`` undo)."""
    res = lab.exec(node, ["sh", "-c", f"printf '{DRIFT}' >> {path}"])
    assert res.exit_code == 0, res.stderr


@pytest.fixture(scope="session")
def kboot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kboot]:
    BUNDLE_CACHE.parent.mkdir(parents=True, exist_ok=True)
    yield Kboot(tmp_path_factory.mktemp("kboot-home"))


@pytest.fixture(scope="session")
def ha_cluster(lab: Lab, kboot: Kboot) -> str:
    """``kboot up`` on the 3 + 2 lab, from bare machines, once per session; the cluster name."""
    for node in lab.nodes:  # nothing of kboot's is there yet
        assert lab.exec(node.name, ["test", "-e", "/etc/kboot"]).exit_code != 0
    proc = kboot.up(lab.inventory_path)
    assert "phase verify" in proc.stdout
    return lab.name
