"""End-to-end fixtures: ``kboot`` run as users run it (a subprocess of the CLI) against lab
machines, with its state in a temporary ``KBOOT_HOME`` and the bundle cached across runs.

The ``kboot`` fixture also keeps, per cluster, what this session last did to it (``up`` of which
inventory, ``reset``, or something that leaves it in an unknown shape), so that a module on a
shared lab can take the cluster as converged (``kboot.converge(lab)``: one ``kboot up``) instead
of resetting and installing again, and resets only when another module left a different cluster
there. Every ``kboot`` invocation's verb, module and seconds are listed at the end of the run
(``kboot runs per e2e module``), so the CI log shows how many ups and resets each module cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

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


@dataclass(frozen=True)
class KbootRun:
    """One ``kboot`` invocation: the test module it ran for, its verb, exit status, seconds."""

    module: str
    verb: str
    status: int
    seconds: float


# What a cluster holds after the last ``kboot`` run of this session that touched it: the
# inventory a successful ``up`` used, RESET after a successful ``reset``, UNKNOWN after a failed
# or interrupted run of these verbs or a ``remove-node`` (a shape no inventory describes). A
# successful ``restore`` keeps what was there (same cluster, older objects).
RESET = "reset"
UNKNOWN = "unknown"
_TRACKED = frozenset({"up", "reset", "restore", "remove-node"})


def _cluster_name(inventory: str) -> str | None:
    try:
        data = yaml.safe_load(Path(inventory).read_text())
        return str(data["cluster"]["name"])
    except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError):  # e.g. a backup archive
        return None


def _current_module() -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "?")
    return current.split("::", 1)[0]


@dataclass
class Kboot:
    home: Path
    runs: list[KbootRun] = field(default_factory=list)
    clusters: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {**os.environ, "KBOOT_HOME": str(self.home), "HOME": str(self.home),
                "COLUMNS": "200"}

    def __call__(self, *args: str, timeout: float = 900, check: bool = True
                 ) -> subprocess.CompletedProcess[str]:
        verb = args[0] if args else ""
        if verb == "up" and "--check" in args:
            verb = "up --check"
        cluster = _cluster_name(args[1]) if len(args) > 1 and verb in _TRACKED else None
        previous = self.clusters.get(cluster or "", RESET)
        if cluster is not None:
            self.clusters[cluster] = UNKNOWN  # until the run below says otherwise
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "kboot.cli.main", *args], env=self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)
        self.runs.append(KbootRun(_current_module(), verb, proc.returncode,
                                  time.monotonic() - start))
        if cluster is not None and proc.returncode == 0 and verb != "remove-node":
            self.clusters[cluster] = {"up": args[1], "reset": RESET}.get(verb, previous)
        if check and proc.returncode != 0:
            raise AssertionError(f"kboot {' '.join(args)} exited {proc.returncode}\n"
                                 f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
        return proc

    def up(self, inventory: Path, *extra: str, check: bool = True, timeout: float = 900
           ) -> subprocess.CompletedProcess[str]:
        return self("up", str(inventory), "--bundle", str(BUNDLE_CACHE), *extra, check=check,
                    timeout=timeout)

    def converge(self, lab: Lab) -> subprocess.CompletedProcess[str]:
        """The lab's own cluster (``lab.inventory_path``), converged: one ``kboot up``, after a
        ``kboot reset`` only when this session last left something else on the lab (another
        module's inventory for the same cluster name, e.g. an embedded-store cluster, or a failed,
        interrupted or shape-changing run). A module that needs the shared lab's default cluster
        calls this instead of ``reset`` + ``up``, which costs a full install each time."""
        inventory = str(lab.inventory_path)
        state = self.clusters.get(lab.name, RESET)  # a lab this session never touched is new
        if state not in (RESET, inventory):
            self("reset", inventory, "--yes")
        return self.up(lab.inventory_path)

    def bare(self, lab: Lab) -> None:
        """The lab's machines with no cluster on them: one ``kboot reset`` unless this session
        left nothing there. For modules that grow a cluster from part of a shared lab (a worker
        added later must really be new to the cluster)."""
        if self.clusters.get(lab.name, RESET) != RESET:
            self("reset", str(lab.inventory_path), "--yes")

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


KBOOT_RUNS = pytest.StashKey[list[KbootRun]]()


@pytest.fixture(scope="session")
def kboot(tmp_path_factory: pytest.TempPathFactory,
          pytestconfig: pytest.Config) -> Iterator[Kboot]:
    BUNDLE_CACHE.parent.mkdir(parents=True, exist_ok=True)
    k = Kboot(tmp_path_factory.mktemp("kboot-home"))
    pytestconfig.stash[KBOOT_RUNS] = k.runs
    yield k


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    """Per e2e module: how many ``kboot up`` (full or converging), ``reset`` and other runs it
    made and their seconds. Counts do not depend on the machine's load; seconds do."""
    runs = config.stash.get(KBOOT_RUNS, [])
    if not runs:
        return
    table: dict[tuple[str, str], list[float]] = {}
    for run in runs:
        table.setdefault((run.module, run.verb), []).append(run.seconds)
    terminalreporter.write_sep("=", "kboot runs per e2e module")
    for (module, verb), secs in table.items():
        terminalreporter.write_line(f"{module:45} {verb:12} {len(secs):3}x {sum(secs):8.1f}s")


@pytest.fixture(scope="session")
def ha_cluster(lab: Lab, kboot: Kboot) -> str:
    """``kboot up`` on the 3 + 2 lab, from bare machines, once per session; the cluster name."""
    for node in lab.nodes:  # nothing of kboot's is there yet
        assert lab.exec(node.name, ["test", "-e", "/etc/kboot"]).exit_code != 0
    proc = kboot.up(lab.inventory_path)
    assert "phase verify" in proc.stdout
    return lab.name
