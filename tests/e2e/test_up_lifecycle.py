"""``kboot up`` lifecycle on a small lab (1 control plane + 2 workers): an interrupted run
converges when re-run, a worker added to the inventory joins without touching the others, and
``kboot reset`` leaves the nodes clean for a new ``kboot up``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kboot.lab import Lab
from tests.e2e.conftest import BUNDLE_CACHE, Kboot
from tests.fixtures.lab import LabFactory

pytestmark = [pytest.mark.e2e, pytest.mark.lab]


@pytest.fixture(scope="module")
def small_lab(lab_factory: LabFactory) -> Lab:
    # The pre-provisioned image (Debian packages already installed, services off) keeps these
    # three extra `kboot up` runs short; test_up_ha.py covers the install from bare machines.
    return lab_factory(1, 2, image="provisioned")


@pytest.fixture(scope="module")
def without_w2(small_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data = yaml.safe_load(small_lab.inventory_path.read_text())
    w2 = f"{small_lab.name}-w2"
    del data["hosts"][w2]
    data["groups"]["workers"]["hosts"].remove(w2)
    path = tmp_path_factory.mktemp("inv") / "two-nodes.yaml"
    path.write_text(yaml.safe_dump(data))
    yield path


def _ready(kboot: Kboot, cluster: str) -> set[str]:
    items = json.loads(kboot.kubectl(cluster, "get", "nodes", "-o", "json").stdout)["items"]
    return {n["metadata"]["name"] for n in items
            if any(c["type"] == "Ready" and c["status"] == "True"
                   for c in n["status"].get("conditions", []))}


def test_interrupted_up_converges_on_rerun(kboot: Kboot, small_lab: Lab, without_w2: Path) -> None:
    cmd = [sys.executable, "-m", "kboot.cli.main", "up", str(without_w2), "--bundle",
           str(BUNDLE_CACHE), "-o", "json"]
    proc = subprocess.Popen(cmd, env=kboot.env(), stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    seen_install = False
    for line in proc.stdout:  # kill it in the middle of installing packages on the hosts
        if '"bundle archive pushed"' in line or '"bundle unpacked"' in line:
            seen_install = True
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert seen_install, "the run ended before the bundle phase"
    assert proc.returncode == -signal.SIGKILL
    kboot.up(without_w2)
    assert _ready(kboot, small_lab.name) == {f"{small_lab.name}-cp1", f"{small_lab.name}-w1"}


def test_added_worker_joins_without_touching_the_others(kboot: Kboot, small_lab: Lab) -> None:
    proc = kboot.up(small_lab.inventory_path, "-o", "json")
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    changed_hosts = {e["host"] for e in events
                     if e.get("kind") == "task_result" and e["status"] == "changed"}
    assert changed_hosts == {f"{small_lab.name}-w2"}
    assert _ready(kboot, small_lab.name) == {n.name for n in small_lab.nodes}


def test_reset_leaves_nodes_clean_and_up_works_again(kboot: Kboot, small_lab: Lab) -> None:
    kboot("reset", str(small_lab.inventory_path), "--yes")
    for node in small_lab.nodes:
        probe = small_lab.exec(node.name, ["sh", "-c", (
            "test ! -e /etc/kboot && test ! -e /var/lib/kboot && ! ip link show cni0 2>/dev/null"
            " && ! iptables-save | grep -q KBOOT && ! systemctl is-active -q kboot-kubelet"
            " && ! pgrep -f '[c]ontainerd-shim'")])
        assert probe.exit_code == 0, f"{node.name} not clean: {probe.stdout}{probe.stderr}"
    kboot.up(small_lab.inventory_path)
    assert _ready(kboot, small_lab.name) == {n.name for n in small_lab.nodes}
