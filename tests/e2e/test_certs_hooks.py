"""Certificates, hooks and the run lock on a small lab (1 control plane + 1 worker).

- leaves issued short-lived (``cluster.certs.leaf_days``): ``kboot certs check`` reports them
  (exit 3 under a 30-day threshold, JSON naming every node's files), the next ``kboot up`` with
  ``renew_before_days: 30`` renews them and ``check`` is clean again, ``kboot certs renew``
  re-issues one certificate with the same CA while the API keeps answering;
- hooks run in order (workstation and hosts), a failing hook stops ``up`` naming it;
- a second ``kboot up`` while one runs is refused with the holder; a stale lock is refused
  until ``--force-unlock``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kboot.lab import Lab
from tests.e2e.conftest import BUNDLE_CACHE, Kboot
from tests.fixtures.lab import LabFactory, Shape
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 1, "provisioned"),)
# before the other modules on the 1 + 1 lab (tests/fixtures/lab.py): the reset below then finds
# bare machines, and the next module converges this cluster instead of installing another
RUNS_FIRST_ON_ITS_LAB = True

LOCK = "/var/lib/kboot/run.lock"
APISERVER_CRT = "/etc/kboot/pki/apiserver.crt"


@dataclass
class Cluster:
    lab: Lab
    kboot: Kboot
    inventory: Path
    data: dict[str, Any]
    log: Path

    @property
    def cp1(self) -> str:
        return f"{self.lab.name}-cp1"

    def write(self, **cluster: Any) -> Path:
        self.data["cluster"].update(cluster)
        self.inventory.write_text(yaml.safe_dump(self.data))
        return self.inventory

    def sh(self, node: str, script: str) -> str:
        res = self.lab.exec(node, ["sh", "-c", script])
        assert res.exit_code == 0, res.stdout + res.stderr
        return res.stdout

    def check(self, *extra: str) -> tuple[int, dict[str, Any]]:
        proc = self.kboot("certs", "check", str(self.inventory), "-o", "json", *extra,
                          check=False)
        assert proc.returncode in (0, 1, 3), proc.stdout + proc.stderr
        return proc.returncode, json.loads(proc.stdout)


def _hooks(log: Path) -> dict[str, Any]:
    return {
        "before_up": [f"echo before_up >> {log}",
                      {"name": "mark hosts", "hosts": "control_plane", "become": True,
                       "run": "echo \"$KBOOT_EVENT\" > /tmp/kboot-hook-mark"}],
        "after_up": [f"echo after_up >> {log}"],
        "before_certs_renew": [f"echo before_certs_renew >> {log}"],
        "after_certs_renew": [f"echo after_certs_renew >> {log}"],
    }


@pytest.fixture(scope="module")
def cluster(lab_factory: LabFactory, kboot: Kboot,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    lab = lab_factory(1, 1, image="provisioned")
    data = yaml.safe_load(lab.inventory_path.read_text())
    work = tmp_path_factory.mktemp("certs")
    log = work / "hooks.log"
    # the lab may hold another module's cluster, and the workstation that cluster's year-long
    # leaves, which up would reuse: the first up renews every leaf with under 400 days left, so
    # all of them are the short-lived ones this module checks; later runs renew at 0 days
    data.setdefault("cluster", {}).update(
        certs={"leaf_days": 10, "renew_before_days": 400}, hooks=_hooks(log))
    c = Cluster(lab, kboot, work / "inventory.yaml", data, log)
    c.write()
    kboot("reset", str(lab.inventory_path), "--yes")
    proc = kboot.up(c.inventory)
    assert "phase verify" in proc.stdout
    c.write(certs={"leaf_days": 10, "renew_before_days": 0})
    yield c


def test_hooks_ran_in_order_on_workstation_and_hosts(cluster: Cluster) -> None:
    assert cluster.log.read_text().splitlines() == ["before_up", "after_up"]
    assert cluster.sh(cluster.cp1, "cat /tmp/kboot-hook-mark").strip() == "before_up"


def test_short_lived_leaves_reported_then_renewed_by_up(cluster: Cluster) -> None:
    code, doc = cluster.check()  # the inventory's threshold (0 days): nothing to do yet
    assert code == 0, [c for c in doc["certificates"] if c["status"] != "ok"]
    code, doc = cluster.check("--threshold-days", "30")
    assert code == 3
    expiring = {(c["where"], c["path"]) for c in doc["certificates"]
                if c["status"] == "expiring"}
    assert (cluster.cp1, APISERVER_CRT) in expiring
    assert (f"{cluster.lab.name}-w1", "/etc/kboot/pki/kubelet.crt") in expiring
    signers = {c["signer"] for c in doc["certificates"] if c["path"].endswith("etcd/peer.crt")}
    assert signers == {"pki/etcd/ca"}
    before = cluster.sh(cluster.cp1, f"openssl x509 -noout -serial -in {APISERVER_CRT}")

    cluster.write(certs={"renew_before_days": 30})
    cluster.kboot.up(cluster.inventory)
    code, doc = cluster.check()
    assert code == 0, [c for c in doc["certificates"] if c["status"] != "ok"]
    assert cluster.sh(cluster.cp1, f"openssl x509 -noout -serial -in {APISERVER_CRT}") != before
    cluster.kboot.kubectl(cluster.lab.name, "get", "nodes")


def test_renew_one_certificate_with_the_same_ca(cluster: Cluster) -> None:
    ca = cluster.sh(cluster.cp1, "openssl x509 -noout -fingerprint -in /etc/kboot/pki/ca.crt")
    before = cluster.sh(cluster.cp1, f"openssl x509 -noout -serial -in {APISERVER_CRT}")
    proc = cluster.kboot("certs", "renew", str(cluster.inventory), "apiserver")
    assert f"nodes/{cluster.cp1}/apiserver" in proc.stdout
    assert cluster.sh(cluster.cp1, f"openssl x509 -noout -serial -in {APISERVER_CRT}") != before
    assert cluster.sh(cluster.cp1,
                      "openssl x509 -noout -fingerprint -in /etc/kboot/pki/ca.crt") == ca
    assert cluster.log.read_text().splitlines()[-2:] == ["before_certs_renew",
                                                         "after_certs_renew"]
    cluster.kboot.kubectl(cluster.lab.name, "get", "nodes")
    assert cluster.check()[0] == 0


def test_concurrent_up_refused_with_the_holder(cluster: Cluster) -> None:
    first = subprocess.Popen(
        [sys.executable, "-m", "kboot.cli.main", "up", str(cluster.inventory), "--bundle",
         str(BUNDLE_CACHE)], env=cluster.kboot.env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        wait_until("the first run's lock", lambda: cluster.lab.exec(
            cluster.cp1, ["test", "-e", LOCK]).exit_code == 0, timeout=300)
        second = cluster.kboot.up(cluster.inventory, check=False)
        assert second.returncode != 0
        text = second.stdout + second.stderr
        assert "is locked by" in text and f"pid {first.pid}" in text and "kboot up" in text
    finally:
        out, err = first.communicate(timeout=900)
    assert first.returncode == 0, out[-3000:] + err[-3000:]
    assert cluster.lab.exec(cluster.cp1, ["test", "-e", LOCK]).exit_code != 0  # released


def test_stale_lock_needs_force_unlock(cluster: Cluster) -> None:
    stale = json.dumps({"user": "ghost", "host": "gone", "pid": 1, "command": "kboot up x",
                        "token": "dead"})
    cluster.sh(cluster.cp1, f"echo '{stale}' > {LOCK}")
    refused = cluster.kboot("certs", "renew", str(cluster.inventory), "admin", check=False)
    assert refused.returncode != 0
    assert "ghost@gone (pid 1, `kboot up x`)" in refused.stdout + refused.stderr
    cluster.kboot("certs", "renew", str(cluster.inventory), "admin", "--force-unlock")
    assert cluster.lab.exec(cluster.cp1, ["test", "-e", LOCK]).exit_code != 0


def test_failing_hook_stops_up(cluster: Cluster) -> None:
    hooks = _hooks(cluster.log)
    hooks["before_up"].append({"name": "change freeze", "run": "echo frozen >&2; exit 4"})
    cluster.write(hooks=hooks)
    try:
        proc = cluster.kboot.up(cluster.inventory, check=False)
        text = proc.stdout + proc.stderr
        assert proc.returncode == 1
        assert "before_up[2] 'change freeze'" in text and "exit code 4" in text
        assert "frozen" in text and "phase preflight" not in text
        assert cluster.log.read_text().splitlines()[-1] == "before_up"  # after_up never ran
        assert cluster.lab.exec(cluster.cp1, ["test", "-e", LOCK]).exit_code != 0
    finally:
        cluster.write(hooks=_hooks(cluster.log))
