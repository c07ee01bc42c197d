"""``kboot up`` lifecycle on a small lab (1 control plane + 2 workers): an interrupted run
converges when re-run, a worker added to the inventory joins without touching the others,
``kboot remove-node`` drains, resets and deletes that worker (and ``kboot up`` with it still in
the inventory joins it again), and ``kboot reset`` leaves the nodes clean for a new ``kboot up``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
import yaml

from kboot.lab import Lab
from tests.e2e.conftest import BUNDLE_CACHE, Kboot
from tests.fixtures.lab import LabFactory, Shape

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 2, "provisioned"),)
# after the other modules on the 1 + 2 lab (tests/fixtures/lab.py): its tests start from bare
# machines (one reset of the shared cluster), and no module after it needs its cluster
RUNS_LAST_ON_ITS_LAB = True


@pytest.fixture(scope="module")
def small_lab(lab_factory: LabFactory, kboot: Kboot) -> Lab:
    # The pre-provisioned image (Debian packages already installed, services off) keeps these
    # three extra `kboot up` runs short; test_up_ha.py covers the install from bare machines.
    lab = lab_factory(1, 2, image="provisioned")
    # the lab is shared (the other 1 + 2 modules' cluster runs on it before); these tests
    # start from machines without a cluster: an interrupted first install, w2 not yet joined
    kboot("reset", str(lab.inventory_path), "--yes")
    return lab


@pytest.fixture(scope="module")
def without_w2(small_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data = yaml.safe_load(small_lab.inventory_path.read_text())
    w2 = f"{small_lab.name}-w2"
    del data["hosts"][w2]
    data["groups"]["workers"]["hosts"].remove(w2)
    path = tmp_path_factory.mktemp("inv") / "two-nodes.yaml"
    path.write_text(yaml.safe_dump(data))
    yield path


CLEAN = ("test ! -e /etc/kboot && test ! -e /var/lib/kboot && ! ip link show cni0 2>/dev/null"
         " && ! iptables-save | grep -q KBOOT && ! systemctl is-active -q kboot-kubelet"
         " && ! pgrep -f '[c]ontainerd-shim'")

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: main
          image: kboot.io/busybox:1.35
          imagePullPolicy: IfNotPresent
          command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
"""


def _assert_clean(lab: Lab, node: str) -> None:
    """Nothing of kboot's left on the host: files, units, CNI bridge, rules, containers."""
    probe = lab.exec(node, ["sh", "-c", CLEAN])
    assert probe.exit_code == 0, f"{node} not clean: {probe.stdout}{probe.stderr}"


def _poll(fn: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        time.sleep(1)


def _web_pods(kboot: Kboot, cluster: str) -> dict[str, tuple[str, bool]]:
    """The Deployment's live pods: name -> (node, Ready)."""
    items = json.loads(kboot.kubectl(cluster, "get", "pods", "-l", "app=web", "-o",
                                     "json").stdout)["items"]
    return {p["metadata"]["name"]: (p["spec"].get("nodeName", ""), any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in p.get("status", {}).get("conditions", [])))
        for p in items if not p["metadata"].get("deletionTimestamp")}


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
    # a SIGKILLed run leaves its run lock behind; its process is gone from this workstation,
    # so a plain re-run takes the lock over (saying so) and converges
    rerun = kboot.up(without_w2)
    assert "which is no longer running on this workstation" in rerun.stderr + rerun.stdout
    assert _ready(kboot, small_lab.name) == {f"{small_lab.name}-cp1", f"{small_lab.name}-w1"}
    # a lock held by a run on another workstation is refused, naming it, until --force-unlock
    # (what the refusal tells the user)
    holder = {"user": "ops", "host": "elsewhere.example", "pid": 4242, "command": "kboot up",
              "token": "t", "since": int(time.time())}
    small_lab.put(f"{small_lab.name}-cp1", json.dumps(holder).encode() + b"\n",
                  "/var/lib/kboot/run.lock")
    refused = kboot("up", str(without_w2), "--bundle", str(BUNDLE_CACHE), check=False)
    said = refused.stderr + refused.stdout
    assert refused.returncode != 0 and "is locked by ops@elsewhere.example (pid 4242" in said, said
    assert "--force-unlock" in said
    kboot.up(without_w2, "--force-unlock")
    assert small_lab.exec(f"{small_lab.name}-cp1", ["test", "-e", "/var/lib/kboot/run.lock"]
                          ).exit_code != 0  # released at the end of the run


def test_added_worker_joins_without_touching_the_others(kboot: Kboot, small_lab: Lab) -> None:
    proc = kboot.up(small_lab.inventory_path, "-o", "json")
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    changed_hosts = {e["host"] for e in events
                     if e.get("kind") == "task_result" and e["status"] == "changed"}
    assert changed_hosts == {f"{small_lab.name}-w2"}
    assert _ready(kboot, small_lab.name) == {n.name for n in small_lab.nodes}


def test_remove_node_drains_resets_and_deletes_a_worker(kboot: Kboot, small_lab: Lab,
                                                        tmp_path: Path) -> None:
    """The worker the previous test joined leaves again; its pods move to the other worker.
    ``kboot up`` with the inventory unchanged then joins it again (as the command warns), so
    the reset test below still sees every node."""
    cluster, w2 = small_lab.name, f"{small_lab.name}-w2"
    kubectl = partial(kboot.kubectl, cluster)
    manifest = tmp_path / "web.yaml"
    manifest.write_text(WEB)
    kubectl("apply", "-f", str(manifest))
    _poll(lambda: (len(pods := _web_pods(kboot, cluster)) == 4
                   and all(ready for _, ready in pods.values())), 180, "4 web pods Ready")
    assert w2 in {node for node, _ in _web_pods(kboot, cluster).values()}  # something to drain

    proc = kboot("remove-node", str(small_lab.inventory_path), w2, "--yes")
    assert f"next: remove {w2} from" in " ".join(proc.stdout.split())
    assert w2 not in _ready(kboot, cluster)
    nodes = kubectl("get", "nodes", "-o", "name").stdout.split()
    assert nodes == [f"node/{cluster}-cp1", f"node/{cluster}-w1"]
    lease = kubectl("-n", "kube-node-lease", "get", "lease", w2, check=False)
    assert lease.returncode != 0 and "NotFound" in lease.stderr
    dns = json.loads(kubectl("-n", "kube-system", "get", "endpoints", "kube-dns", "-o",
                             "json").stdout)
    assert w2 not in {a.get("nodeName") for s in dns["subsets"] for a in s["addresses"]}
    _poll(lambda: (len(pods := _web_pods(kboot, cluster)) == 4
                   and all(ready and node != w2 for node, ready in pods.values())), 120,
          "4 web pods Ready on the other nodes")
    _assert_clean(small_lab, w2)

    kubectl("delete", "-f", str(manifest))
    proc = kboot.up(small_lab.inventory_path, "-o", "json")  # w2 still listed: joins again
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert {e["host"] for e in events
            if e.get("kind") == "task_result" and e["status"] == "changed"} == {w2}
    assert _ready(kboot, cluster) == {n.name for n in small_lab.nodes}


def test_reset_leaves_nodes_clean_and_up_works_again(kboot: Kboot, small_lab: Lab) -> None:
    kboot("reset", str(small_lab.inventory_path), "--yes")
    for node in small_lab.nodes:
        _assert_clean(small_lab, node.name)
    kboot.up(small_lab.inventory_path)
    assert _ready(kboot, small_lab.name) == {n.name for n in small_lab.nodes}
