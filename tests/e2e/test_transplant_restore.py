"""``kboot restore BACKUP -i NEW_INVENTORY`` onto other machines (issue 20): the backup of the
session's 3 + 2 cluster (``ha_cluster``) restored onto the 1 + 1 lab on another subnet — other
host names, addresses and number of control planes. Objects come back, the Deployment's pods
run on the new nodes, the old Node objects are gone, ``kboot status`` is healthy.

The restore runs from a second workstation (its own ``KBOOT_HOME``, the state taken from the
archive) — as after losing the old site — so the 3 + 2 cluster's workstation state stays as
``test_up_readme_tour.py`` needs it.

Order and cost: it declares the 3 + 2 lab first and runs first in that group, right after the
1 + 1 lab's group (whose last module, ``test_up_sqlite.py``, leaves an embedded-store cluster
there): one ``reset`` of the 1 + 1 lab and the restore (an install plus the store swap), then
the 1 + 1 lab goes down; the 3 + 2 cluster it backs up is the one the rest of its group uses."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
import yaml

from kboot.lab import Lab
from tests.e2e.conftest import BUNDLE_CACHE, UNKNOWN, Kboot
from tests.fixtures.lab import LabFactory, Shape

LABS = (Shape(3, 2), Shape(1, 1, "provisioned"))
RUNS_FIRST_ON_ITS_LAB = True

pytestmark = [pytest.mark.e2e, pytest.mark.lab,
              pytest.mark.timeout(2400)]  # its setup runs a restore that installs the cluster

NS = "mv"
CA = "/etc/kboot/pki/ca.crt"
PASSWORD = "mv-s3cr3t"
WORKLOAD = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {NS}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: web
          image: kboot.io/busybox:1.35
          command: ["sh", "-c", "mkdir /w && echo moved > /w/i && httpd -f -p 8080 -h /w"]
          ports: [{{containerPort: 8080}}]
          readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {NS}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


@dataclass(frozen=True)
class Moved:
    old: str  # the 3 + 2 cluster's name (also the restored cluster's)
    old_nodes: frozenset[str]
    old_ca: str  # the 3 + 2 cluster's CA certificate
    lab: Lab  # the 1 + 1 lab the backup was restored onto
    inventory: Path
    restore: CompletedProcess[str]
    kboot: Kboot  # the second workstation
    kubectl: Callable[..., CompletedProcess[str]]


@pytest.fixture(scope="module")
def moved(kboot: Kboot, ha_cluster: str, lab: Lab, lab_factory: LabFactory,
          tmp_path_factory: pytest.TempPathFactory) -> Moved:
    old = partial(kboot.kubectl, ha_cluster)
    old("create", "namespace", NS)
    old("-n", NS, "create", "configmap", "mv-config", "--from-literal=color=teal")
    old("-n", NS, "create", "secret", "generic", "mv-secret", f"--from-literal=pw={PASSWORD}")
    work = tmp_path_factory.mktemp("transplant")
    (work / "web.yaml").write_text(WORKLOAD)
    old("apply", "-f", str(work / "web.yaml"))
    old("-n", NS, "rollout", "status", "deployment/web", "--timeout=180s", timeout=200)
    archive = work / "backup.tar.gz"
    kboot("backup", str(lab.inventory_path), "-o", str(archive))
    old("delete", "namespace", NS, "--wait=false")  # the 3 + 2 cluster as found

    target = lab_factory(1, 1, image="provisioned")
    kboot.bare(target)  # fresh machines: the lab's own cluster may run there
    data = yaml.safe_load(target.inventory_path.read_text())
    data["cluster"]["name"] = ha_cluster  # the backup's cluster, on the 1 + 1 lab's hosts
    inventory = work / "moved.yaml"
    inventory.write_text(yaml.safe_dump(data))
    # the lab now holds another cluster: the next module's converge must reset it
    kboot.clusters[target.name] = UNKNOWN
    second = Kboot(work / "home", runs=kboot.runs)
    proc = second("restore", str(archive), "-i", str(inventory), "--bundle", str(BUNDLE_CACHE),
                  "--yes", timeout=1500)
    old_ca = lab.exec(lab.nodes[0].name, ["cat", CA]).stdout
    return Moved(ha_cluster, frozenset(n.name for n in lab.nodes), old_ca, target, inventory,
                 proc, second, partial(second.kubectl, ha_cluster))


def _json(m: Moved, *args: str) -> Any:
    return json.loads(m.kubectl(*args, "-o", "json").stdout)


def test_restore_onto_new_hosts_brings_objects_back(moved: Moved) -> None:
    m = moved
    out = m.restore.stdout + m.restore.stderr
    assert "new hosts" in out and "install" in out, out[-3000:]
    assert PASSWORD not in out
    cm = _json(m, "-n", NS, "get", "configmap", "mv-config")
    assert cm["data"] == {"color": "teal"}
    secret = _json(m, "-n", NS, "get", "secret", "mv-secret")
    assert base64.b64decode(secret["data"]["pw"]).decode() == PASSWORD


def test_only_the_new_hosts_are_nodes_and_the_workload_runs_there(moved: Moved) -> None:
    m = moved
    new = {n.name for n in m.lab.nodes}
    nodes = {n["metadata"]["name"] for n in _json(m, "get", "nodes")["items"]}
    assert nodes == new and not nodes & m.old_nodes
    m.kubectl("-n", NS, "rollout", "status", "deployment/web", "--timeout=300s", timeout=320)
    pods = _json(m, "-n", NS, "get", "pods", "-l", "app=web")["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running"]
    assert len(running) == 2, [(p["metadata"]["name"], p["spec"].get("nodeName"),
                                p["status"].get("phase")) for p in pods]
    assert {p["spec"]["nodeName"] for p in running} <= new
    # the Service's endpoints are the new pods', the kubernetes Service's the new control plane
    ready = {a["ip"] for s in _json(m, "-n", NS, "get", "endpoints", "web").get("subsets", [])
             for a in s.get("addresses", [])}
    assert ready == {p["status"]["podIP"] for p in running}
    api = {a["ip"] for s in _json(m, "get", "endpoints", "kubernetes").get("subsets", [])
           for a in s.get("addresses", [])}
    assert api == {n.address for n in m.lab.nodes if n.role == "control_plane"}


def test_status_is_healthy_and_certificates_name_the_new_hosts(moved: Moved) -> None:
    m = moved
    status = m.kboot("status", str(m.inventory), check=False)
    assert status.returncode == 0, status.stdout[-3000:] + status.stderr[-2000:]
    cp1 = f"{m.lab.name}-cp1"
    cp_ip = next(n.address for n in m.lab.nodes if n.name == cp1)
    san = m.lab.exec(cp1, ["sh", "-c", "openssl x509 -noout -ext subjectAltName "
                           "-in /etc/kboot/pki/apiserver.crt"])
    assert cp_ip in san.stdout and cp1 in san.stdout, san.stdout + san.stderr
    assert "BEGIN CERTIFICATE" in m.old_ca
    assert m.lab.exec(cp1, ["cat", CA]).stdout == m.old_ca  # the backup's CA
    members = m.lab.exec(cp1, ["sh", "-c", (
        "ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 "
        "--cacert=/etc/kboot/pki/etcd/ca.crt --cert=/etc/kboot/pki/etcd/server.crt "
        "--key=/etc/kboot/pki/etcd/server.key member list")])
    assert members.exit_code == 0, members.stderr
    assert [line.split(", ")[2] for line in members.stdout.splitlines()] == [cp1]
