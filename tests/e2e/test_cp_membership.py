"""Control-plane membership on the shared 3 + 1 lab (issue 20): with a writer creating
ConfigMaps through the API's virtual address all along, shrink 3 -> 1 control planes with
``kboot remove-node`` and grow back to 3 with ``kboot up`` of the lab's inventory (new members
join etcd as learners and are promoted), the first removal right after etcd restarted on every
member (etcd refuses it as "unhealthy cluster" for 5 s; remove-node waits); a removal that would
lose quorum is refused; a stale etcd member is shown by ``kboot status``; a control plane whose
machine is deleted and created again (same name and address, fresh disk) is replaced by one
``kboot up``, which also removes the stale member. The module ends with the lab's own cluster
converged (3 + 1).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from kboot.cluster.etcdsnap import etcdctl
from kboot.controlplane.client.sync import SyncClient
from kboot.lab import Lab
from tests.e2e.conftest import Kboot
from tests.fixtures.lab import Shape

pytestmark = [pytest.mark.e2e, pytest.mark.lab,
              pytest.mark.timeout(1800)]  # each step runs kboot up or remove-node twice

LABS = (Shape(3, 1, "provisioned"),)

NAMESPACE = "cp-membership"


@dataclass
class Writer:
    """Creates one ConfigMap after another through the kubeconfig's server (the VIP); keeps
    the names the API acknowledged and the longest time between two acknowledged writes."""

    kubeconfig: Path
    acked: list[str] = field(default_factory=list)
    failures: int = 0
    longest_gap: float = 0.0
    last_error: str = ""
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        last = time.monotonic()
        i = 0
        while not self.stop.is_set():
            name = f"w-{i:05d}"
            try:
                with SyncClient.from_kubeconfig(self.kubeconfig) as api:
                    while not self.stop.is_set():
                        name = f"w-{i:05d}"
                        api.create("configmaps", {"metadata": {"name": name,
                                                               "namespace": NAMESPACE},
                                                  "data": {"i": str(i)}})
                        self.acked.append(name)
                        now = time.monotonic()
                        self.longest_gap = max(self.longest_gap, now - last)
                        last = now
                        i += 1
                        time.sleep(0.2)
            except Exception as e:  # any failure is a failed write; go on with the next
                self.failures += 1
                self.last_error = repr(e)
                i += 1
                time.sleep(0.2)


def _member_names(lab: Lab, on: str) -> list[str]:
    res = lab.exec(on, ["sh", "-c", f"{etcdctl()} member list -w json"])
    assert res.exit_code == 0, res.stderr
    return sorted(m.get("name", "") for m in json.loads(res.stdout)["members"])


def _worker(lab: Lab) -> str:
    return next(n.name for n in lab.nodes if n.role == "worker")


def _inventory(lab: Lab, tmp: Path, cps: list[str]) -> Path:
    doc = yaml.safe_load(lab.inventory_path.read_text())
    doc["groups"]["control_plane"]["hosts"] = cps
    doc["hosts"] = {n: h for n, h in doc["hosts"].items()
                    if n in cps or n in doc["groups"]["workers"]["hosts"]}
    path = tmp / f"inventory-{len(cps)}cp.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@dataclass
class Cluster:
    lab: Lab
    name: str
    cps: list[str]
    writer: Writer
    tmp: Path


@pytest.fixture(scope="module")
def cluster(kboot: Kboot, lab_factory, tmp_path_factory: pytest.TempPathFactory  # type: ignore[no-untyped-def]
            ) -> Iterator[Cluster]:
    lab = lab_factory(3, 1, image="provisioned")
    kboot.converge(lab)
    kboot.kubectl(lab.name, "create", "namespace", NAMESPACE)
    writer = Writer(kboot.kubeconfig(lab.name))
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    cps = [n.name for n in lab.nodes if n.role == "control_plane"]
    try:
        yield Cluster(lab, lab.name, cps, writer, tmp_path_factory.mktemp("cpm"))
    finally:
        writer.stop.set()
        thread.join(timeout=30)
        if kboot.clusters.get(lab.name) != str(lab.inventory_path):  # a test failed half-way
            kboot.up(lab.inventory_path)  # the lab's own cluster for the next module
        kboot.kubectl(lab.name, "delete", "namespace", NAMESPACE, "--wait=false", check=False)


def test_removal_that_would_lose_quorum_is_refused(kboot: Kboot, cluster: Cluster) -> None:
    lab, (cp1, cp2, cp3) = cluster.lab, cluster.cps
    lab.exec(cp3, ["systemctl", "stop", "kboot-etcd"], check=True)
    try:
        proc = kboot("remove-node", str(lab.inventory_path), cp2, "--yes", check=False)
    finally:
        lab.exec(cp3, ["systemctl", "start", "kboot-etcd"], check=True)
    assert proc.returncode != 0
    assert f"refusing to remove {cp2}" in proc.stderr and "quorum" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert _member_names(lab, cp1) == sorted(cluster.cps)  # nothing changed
    last = kboot("remove-node", str(_inventory(lab, cluster.tmp, [cp1])), cp1, "--yes",
                 check=False)
    assert last.returncode != 0 and "last control plane" in last.stderr


def test_shrink_three_to_one(kboot: Kboot, cluster: Cluster) -> None:
    lab, (cp1, cp2, cp3) = cluster.lab, cluster.cps
    # etcd restarted on every member, as the upgrade's rolling restart leaves them (the full run's
    # order): etcd refuses the removal ("unhealthy cluster") until they have been connected 5 s,
    # and remove-node waits that out
    for cp in cluster.cps:
        lab.exec(cp, ["systemctl", "restart", "kboot-etcd"], check=True)
    out = kboot("remove-node", str(lab.inventory_path), cp3, "--yes").stdout
    assert "etcd member" in out and "re-rendered" in out, out
    assert _member_names(lab, cp1) == sorted([cp1, cp2])
    two = _inventory(lab, cluster.tmp, [cp1, cp2])  # what the operator edits it to
    kboot("remove-node", str(two), cp2, "--yes")
    assert _member_names(lab, cp1) == [cp1]
    haproxy = lab.exec(_worker(lab), ["cat", "/etc/haproxy/haproxy.cfg"]).stdout
    assert cp2 not in haproxy and cp3 not in haproxy and cp1 in haproxy


def test_grow_one_to_three_with_learners(kboot: Kboot, cluster: Cluster) -> None:
    lab, (cp1, cp2, cp3) = cluster.lab, cluster.cps
    out = kboot.up(lab.inventory_path).stdout
    assert f"{cp2} added as learner" in out and f"{cp3} caught up and promoted" in out, out
    assert _member_names(lab, cp1) == sorted(cluster.cps)
    haproxy = lab.exec(_worker(lab), ["cat", "/etc/haproxy/haproxy.cfg"]).stdout
    assert all(cp in haproxy for cp in cluster.cps)


def test_status_shows_a_stale_member_and_up_replaces_a_recreated_machine(
        kboot: Kboot, cluster: Cluster) -> None:
    lab, (cp1, _, cp3) = cluster.lab, cluster.cps
    ghost = lab.exec(cp1, ["sh", "-c", f"{etcdctl()} member add ghost --learner "
                                       "--peer-urls=https://10.255.0.99:2380"])
    assert ghost.exit_code == 0, ghost.stderr
    status = json.loads(kboot("status", str(lab.inventory_path), "-o", "json",
                              check=False).stdout)
    assert any("10.255.0.99" in p and "stale" in p for p in status["problems"]), status
    lab.recreate(cp3)  # deleted and created again: same name and address, empty disk
    out = kboot.up(lab.inventory_path).stdout
    assert "removed stale member" in out and f"{cp3} added as learner" in out, out
    assert _member_names(lab, cp1) == sorted(cluster.cps)
    status = json.loads(kboot("status", str(lab.inventory_path), "-o", "json",
                              check=False).stdout)
    assert not [p for p in status["problems"] if "etcd" in p], status["problems"]


def test_no_acknowledged_write_lost(kboot: Kboot, cluster: Cluster) -> None:
    cluster.writer.stop.set()
    time.sleep(1)
    listed = json.loads(kboot.kubectl(cluster.name, "-n", NAMESPACE, "get", "configmaps",
                                      "-o", "json").stdout)["items"]
    names = {c["metadata"]["name"] for c in listed}
    acked = cluster.writer.acked
    writer = cluster.writer
    assert acked, f"no write acknowledged ({writer.failures} failed, last: {writer.last_error})"
    assert set(acked) <= names, sorted(set(acked) - names)[:10]
    print(f"\nwriter: {len(acked)} writes acknowledged, {cluster.writer.failures} failed, "
          f"longest gap between acknowledged writes {cluster.writer.longest_gap:.1f}s")
