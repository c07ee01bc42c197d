"""``kboot up`` with ``cluster.datastore: sqlite`` on a small lab (1 control plane + 1 worker):
the apiserver runs on the embedded store (no etcd anywhere), workloads run, a second ``up``
changes nothing, ``kboot status`` is healthy, backup → delete → restore brings objects back, and
``kboot reset`` leaves the nodes clean."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from subprocess import CompletedProcess

import pytest
import yaml

from kboot.lab import Lab
from tests.e2e.conftest import CheckReport, Kboot
from tests.fixtures.lab import LabFactory, Shape

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 1, "provisioned"),)
# after the other modules on the 1 + 1 lab (tests/fixtures/lab.py): nobody after it has to
# reset its embedded-store cluster (a store switch is refused); the lab goes down instead
RUNS_LAST_ON_ITS_LAB = True

STORE_DIR = "/var/lib/kboot/store"
DB = f"{STORE_DIR}/kboot.db"
ETCD_DIR = "/var/lib/kboot/etcd"


@dataclass(frozen=True)
class SqliteCluster:
    lab: Lab
    inventory: Path
    kubectl: Callable[..., CompletedProcess[str]]

    @property
    def cp1(self) -> str:
        return f"{self.lab.name}-cp1"

    def sh(self, node: str, script: str) -> tuple[int, str]:
        res = self.lab.exec(node, ["sh", "-c", script])
        return res.exit_code, res.stdout + res.stderr


@pytest.fixture(scope="module")
def sqlite_cluster(lab_factory: LabFactory, kboot: Kboot,
                   tmp_path_factory: pytest.TempPathFactory) -> SqliteCluster:
    lab = lab_factory(1, 1, image="provisioned")
    data = yaml.safe_load(lab.inventory_path.read_text())
    data.setdefault("cluster", {})["datastore"] = "sqlite"
    data["groups"].pop("etcd", None)  # the embedded store has no etcd members
    inventory = tmp_path_factory.mktemp("inv") / "sqlite.yaml"
    inventory.write_text(yaml.safe_dump(data))
    # lab_factory shares this 1 + 1 lab with other modules, whose etcd cluster of the same name
    # may still run on it: start from clean nodes, as a new embedded-store cluster would
    kboot("reset", str(lab.inventory_path), "--yes")
    proc = kboot.up(inventory)
    assert "phase verify" in proc.stdout
    return SqliteCluster(lab, inventory, partial(kboot.kubectl, lab.name))


def _ready(kubectl: Callable[..., CompletedProcess[str]]) -> set[str]:
    items = json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]
    return {n["metadata"]["name"] for n in items
            if any(c["type"] == "Ready" and c["status"] == "True"
                   for c in n["status"].get("conditions", []))}


def test_up_runs_on_the_embedded_store(sqlite_cluster: SqliteCluster) -> None:
    c = sqlite_cluster
    assert _ready(c.kubectl) == {n.name for n in c.lab.nodes}
    for node in c.lab.nodes:
        code, out = c.sh(node.name, "systemctl is-active -q kboot-etcd || "
                                    "pgrep -x etcd >/dev/null || echo no-etcd")
        assert out.strip() == "no-etcd", f"{node.name}: etcd is running ({code}: {out})"
        assert c.lab.exec(node.name, ["test", "-e", ETCD_DIR]).exit_code != 0, node.name
    code, out = c.sh(c.cp1, f"stat -c '%a %U' {STORE_DIR} {DB}")
    assert code == 0, out
    (dir_mode, dir_owner), (db_mode, _) = (line.split() for line in out.splitlines())
    assert dir_owner == "root" and (dir_mode == "700" or db_mode == "600"), out
    code, out = c.sh(c.cp1, "systemctl show -p ExecStart --value kboot-apiserver")
    assert f"--storage=sqlite://{DB}" in out and "etcd://" not in out, out


def test_a_deployment_runs(sqlite_cluster: SqliteCluster) -> None:
    c = sqlite_cluster
    c.kubectl("create", "deployment", "sq-web", "--image=kboot.io/busybox:1.35",
              "--replicas=2", "--", "sh", "-c", "sleep 3600")
    c.kubectl("rollout", "status", "deployment/sq-web", "--timeout=180s", timeout=200)
    pods = json.loads(c.kubectl("get", "pods", "-l", "app=sq-web", "-o", "json").stdout)["items"]
    assert len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods), pods


def test_second_up_changes_nothing(sqlite_cluster: SqliteCluster, kboot: Kboot) -> None:
    proc = kboot.up(sqlite_cluster.inventory, "-o", "json")
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    changed = [f"{e['host']}: {e['task']}" for e in events
               if e.get("kind") == "task_result" and e["status"] not in ("ok", "skipped")]
    assert events and changed == [], "\n".join(changed)


def test_check_reports_nothing_then_exactly_a_drift(sqlite_cluster: SqliteCluster,
                                                   kboot: Kboot) -> None:
    """Issue 21 on the embedded store: ``--check --diff`` on the converged cluster has nothing
    to do; the store's directory opened up by hand is exactly what it reports (exit 2);
    ``up`` closes it again. And check mode runs preflight: the lab's own inventory (the same
    cluster on etcd) is refused there too, exit 1."""
    c = sqlite_cluster
    assert kboot.check(c.inventory) == CheckReport(0, frozenset(), {})
    assert c.sh(c.cp1, f"chmod 0755 {STORE_DIR}")[0] == 0
    report = kboot.check(c.inventory)
    assert report.changed == {(c.cp1, "the embedded store's directory (cluster.datastore sqlite)")}
    assert report.status == 2 and list(report.diffs) == [STORE_DIR]
    assert c.sh(c.cp1, f"stat -c %a {STORE_DIR}")[1].strip() == "755"  # check changed nothing
    kboot.up(c.inventory)
    assert c.sh(c.cp1, f"stat -c %a {STORE_DIR}")[1].strip() == "700"
    assert kboot.check(c.inventory) == CheckReport(0, frozenset(), {})
    proc = kboot.up(c.lab.inventory_path, "--check", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "switching the store of a live cluster is not supported" in proc.stdout + proc.stderr


def test_switching_the_store_of_a_live_cluster_is_refused(sqlite_cluster: SqliteCluster,
                                                         kboot: Kboot) -> None:
    """The lab's own inventory names the same cluster on etcd: preflight refuses, nothing
    changes, and the cluster keeps its objects."""
    c = sqlite_cluster
    proc = kboot.up(c.lab.inventory_path, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "switching the store of a live cluster is not supported" in out, out
    assert "Keep cluster.datastore: sqlite" in out and "Traceback" not in out, out
    assert "phase bundle" not in out, out  # stopped at preflight
    _, unit = c.sh(c.cp1, "systemctl show -p ExecStart --value kboot-apiserver")
    assert f"--storage=sqlite://{DB}" in unit, unit
    c.kubectl("get", "deployment", "sq-web")


def test_status_is_healthy_without_etcd(sqlite_cluster: SqliteCluster, kboot: Kboot) -> None:
    proc = kboot("status", str(sqlite_cluster.inventory), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "all healthy" in out and "problem" not in out, out
    assert "embedded sqlite" in out and "(unknown)" not in out, out  # no etcd section to fail
    report = json.loads(kboot("status", str(sqlite_cluster.inventory), "-o", "json").stdout)
    assert report["healthy"] and report["etcd"] == [], report["problems"]


@pytest.fixture(scope="module")
def archive(sqlite_cluster: SqliteCluster, kboot: Kboot,
            tmp_path_factory: pytest.TempPathFactory) -> Path:
    sqlite_cluster.kubectl("create", "configmap", "sq-config", "--from-literal=color=green")
    path = tmp_path_factory.mktemp("backup") / "sqlite.tar.gz"
    kboot("backup", str(sqlite_cluster.inventory), "-o", str(path))
    return path


def _configmap(c: SqliteCluster, name: str) -> dict[str, str] | None:
    proc = c.kubectl("get", "configmap", name, "-o", "json", check=False)
    if proc.returncode != 0:
        assert "not found" in proc.stderr.lower(), proc.stderr
        return None
    data: dict[str, str] = json.loads(proc.stdout)["data"]
    return data


def test_backup_copies_the_embedded_store(sqlite_cluster: SqliteCluster, archive: Path) -> None:
    c = sqlite_cluster
    assert archive.stat().st_mode & 0o777 == 0o600
    with tarfile.open(archive, "r:gz") as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        db = tar.extractfile("store/kboot.db").read()  # type: ignore[union-attr]
        assert "store/etcd.db" not in tar.getnames()
    assert manifest["store"] == "sqlite" and manifest["snapshot"]["source"] == c.cp1
    assert db.startswith(b"SQLite format 3\0") and len(db) == manifest["snapshot"]["size"]
    assert b"sq-config" in db
    # the copy was taken in a 0700 dir on the control plane and removed once fetched
    assert c.lab.exec(c.cp1, ["test", "-e", "/var/lib/kboot/backup"]).exit_code != 0


def test_restore_brings_back_a_deleted_configmap(sqlite_cluster: SqliteCluster, kboot: Kboot,
                                                 archive: Path) -> None:
    c = sqlite_cluster
    c.kubectl("delete", "configmap", "sq-config")
    c.kubectl("create", "configmap", "sq-later", "--from-literal=x=1")
    kboot("restore", str(c.inventory), str(archive), "--yes")
    assert _configmap(c, "sq-config") == {"color": "green"}
    assert _configmap(c, "sq-later") is None
    assert _ready(c.kubectl) == {n.name for n in c.lab.nodes}
    code, out = c.sh(c.cp1, f"ls -a {STORE_DIR}; stat -c %a {STORE_DIR} {DB}")
    assert code == 0 and "kboot.db.bak" not in out and "kboot.db.restore" not in out, out
    assert out.split()[-2:] == ["700", "600"], out
    assert c.lab.exec(c.cp1, ["test", "-e", "/var/lib/kboot/restore"]).exit_code != 0


def test_restore_interrupted_mid_swap_converges_on_rerun(sqlite_cluster: SqliteCluster,
                                                         kboot: Kboot, archive: Path) -> None:
    """As left by a restore killed inside the swap: the control plane stopped, the old
    database moved to .bak, a half-written copy, no database at all."""
    c = sqlite_cluster
    c.kubectl("delete", "configmap", "sq-config")
    code, out = c.sh(c.cp1, (
        "systemctl stop kboot-apiserver kboot-scheduler kboot-controller-manager"
        f" && mv {DB} {DB}.bak && echo torn > {DB}.restore"))
    assert code == 0, out
    kboot("restore", str(c.inventory), str(archive), "--yes")
    assert _configmap(c, "sq-config") == {"color": "green"}
    assert _ready(c.kubectl) == {n.name for n in c.lab.nodes}
    code, out = c.sh(c.cp1, f"ls -a {STORE_DIR}")
    assert "kboot.db.bak" not in out and "kboot.db.restore" not in out, out


def test_reset_leaves_the_nodes_clean(sqlite_cluster: SqliteCluster, kboot: Kboot) -> None:
    c = sqlite_cluster
    kboot("reset", str(c.inventory), "--yes")
    for node in c.lab.nodes:
        probe = c.lab.exec(node.name, ["sh", "-c", (
            "test ! -e /etc/kboot && test ! -e /var/lib/kboot && ! ip link show cni0 2>/dev/null"
            " && ! iptables-save | grep -q KBOOT && ! systemctl is-active -q kboot-kubelet"
            " && ! systemctl is-active -q kboot-apiserver"
            " && ! systemctl cat kboot-apiserver.service >/dev/null 2>&1"
            " && ! pgrep -f '[c]ontainerd-shim'")])
        assert probe.exit_code == 0, f"{node.name} not clean: {probe.stdout}{probe.stderr}"
