"""``kboot up`` with ``cluster.package_source: host`` on a bare lab machine (one control plane
that also runs pods; a lab of its own: the plain 1 + 1 lab belongs to the lab-machine tests,
which expect fresh machines): the node installs the Debian packages with apt from its *own*
sources — here a mirror the test serves from the workstation over HTTP, lab machines having no
route out — the pushed part of the bundle holds no debs, the cluster works, and a second ``up``
changes nothing."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from kboot.lab import Lab
from tests.e2e.conftest import BUNDLE_CACHE, CheckReport, Kboot
from tests.fixtures.lab import LabFactory, Shape

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 0),)


@dataclass(frozen=True)
class Mirror:
    url: str
    log: Path


@dataclass(frozen=True)
class HostSourceCluster:
    lab: Lab
    inventory: Path
    mirror: Mirror

    def sh(self, node: str, script: str) -> tuple[int, str]:
        res = self.lab.exec(node, ["sh", "-c", script])
        return res.exit_code, res.stdout + res.stderr


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mirror(lab_factory: LabFactory, kboot: Kboot,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    """The bundle's flat Debian repository over HTTP on the lab bridge's own address."""
    lab = lab_factory(1, 0)  # the plain image: no cluster packages on the node
    if not (BUNDLE_CACHE / "manifest.json").exists():
        kboot("bundle", "build", "-o", str(BUNDLE_CACHE))
    address = lab.spec.gateway
    port = _free_port(address)
    log = tmp_path_factory.mktemp("mirror") / "access.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", address, "--directory",
             str(BUNDLE_CACHE / "debs"), str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        yield Mirror(f"http://{address}:{port}/", log)
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def host_source_cluster(lab_factory: LabFactory, kboot: Kboot, mirror: Mirror,
                        tmp_path_factory: pytest.TempPathFactory) -> HostSourceCluster:
    lab = lab_factory(1, 0)
    for node in lab.nodes:  # the host's own apt sources: only the mirror
        res = lab.exec(node.name, ["sh", "-c", f"echo 'deb [trusted=yes] {mirror.url} ./' "
                                               "> /etc/apt/sources.list"])
        assert res.exit_code == 0, res.stderr
    data = yaml.safe_load(lab.inventory_path.read_text())
    data.setdefault("cluster", {})["package_source"] = "host"
    inventory = tmp_path_factory.mktemp("inv") / "host-source.yaml"
    inventory.write_text(yaml.safe_dump(data))
    proc = kboot.up(inventory)
    assert "phase verify" in proc.stdout
    return HostSourceCluster(lab, inventory, mirror)


def test_packages_came_from_the_hosts_own_sources(host_source_cluster: HostSourceCluster
                                                  ) -> None:
    c = host_source_cluster
    fetched = c.mirror.log.read_text()
    for package in ("containerd", "haproxy", "runc"):
        pattern = rf'"GET /(\./)?{package}_\S+\.deb HTTP/1\.1" 200'
        assert re.search(pattern, fetched), fetched[-2000:]
    for node in c.lab.nodes:
        code, out = c.sh(node.name, "dpkg-query -W -f='${db:Status-Status}' containerd runc "
                                    "haproxy; ls /etc/apt/sources.list.d/")
        assert code == 0 and out.startswith("installedinstalledinstalled"), out
        assert "kboot.list" not in out, out
        code, out = c.sh(node.name, "ls -d /var/lib/kboot/bundle/*/ && "
                                    "ls /var/lib/kboot/bundle/*/")
        assert code == 0 and "-nodebs/" in out, out
        assert "debs" not in out.split("\n", 1)[1] and "wheels" in out, out


def test_the_cluster_works(host_source_cluster: HostSourceCluster, kboot: Kboot) -> None:
    c = host_source_cluster
    nodes = json.loads(kboot.kubectl(c.lab.name, "get", "nodes", "-o", "json").stdout)["items"]
    ready = {n["metadata"]["name"] for n in nodes
             if any(k["type"] == "Ready" and k["status"] == "True"
                    for k in n["status"].get("conditions", []))}
    assert ready == {n.name for n in c.lab.nodes}


def test_second_up_changes_nothing(host_source_cluster: HostSourceCluster,
                                   kboot: Kboot) -> None:
    proc = kboot.up(host_source_cluster.inventory, "-o", "json")
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    changed = [f"{e['host']}: {e['task']}" for e in events
               if e.get("kind") == "task_result" and e["status"] not in ("ok", "skipped")]
    assert events and changed == [], "\n".join(changed)


def test_check_reports_nothing_then_exactly_a_drift(host_source_cluster: HostSourceCluster,
                                                   kboot: Kboot) -> None:
    """Issue 21 on a single node: ``--check --diff`` on the converged cluster has nothing to
    do; a kboot service stopped by hand is exactly what it reports (exit 2); ``up`` starts it
    again."""
    c = host_source_cluster
    node = c.lab.nodes[0].name
    assert kboot.check(c.inventory) == CheckReport(0, frozenset(), {})
    assert c.sh(node, "systemctl stop kboot-proxy")[0] == 0
    report = kboot.check(c.inventory)
    assert report.changed == {(node, "node services running (restarted where their unit changed)")}
    assert report.status == 2
    assert c.sh(node, "systemctl is-active kboot-proxy")[1].strip() == "inactive"
    kboot.up(c.inventory)
    assert c.sh(node, "systemctl is-active kboot-proxy")[1].strip() == "active"
    assert kboot.check(c.inventory) == CheckReport(0, frozenset(), {})
