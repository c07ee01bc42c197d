"""``kboot backup`` and ``kboot restore`` on a small lab cluster (1 control plane + 1 worker):
objects deleted after a backup come back (Secret data intact), objects created after it are
gone, the nodes are Ready; a restore interrupted in the middle of swapping etcd's data converges
when re-run; another cluster's backup is refused without touching anything."""

from __future__ import annotations

import base64
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
from tests.e2e.conftest import Kboot
from tests.fixtures.lab import LabFactory, Shape

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 1, "provisioned"),)

PASSWORD = "br-s3cr3t-v1"
DATA_DIR = "/var/lib/kboot/etcd"


@dataclass(frozen=True)
class Backup:
    lab: Lab
    inventory: str
    archive: Path
    kubectl: Callable[..., CompletedProcess[str]]
    output: str


@pytest.fixture(scope="module")
def backed_up(lab_factory: LabFactory, kboot: Kboot,
              tmp_path_factory: pytest.TempPathFactory) -> Backup:
    lab = lab_factory(1, 1, image="provisioned")
    kboot.up(lab.inventory_path)
    kubectl = partial(kboot.kubectl, lab.name)
    kubectl("create", "configmap", "br-config", "--from-literal=color=blue")
    kubectl("create", "secret", "generic", "br-secret", f"--from-literal=password={PASSWORD}")
    archive = tmp_path_factory.mktemp("backup") / "cluster.tar.gz"
    proc = kboot("backup", str(lab.inventory_path), "-o", str(archive))
    return Backup(lab, str(lab.inventory_path), archive, kubectl, proc.stdout + proc.stderr)


def _ready(kubectl: Callable[..., CompletedProcess[str]]) -> set[str]:
    items = json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]
    return {n["metadata"]["name"] for n in items
            if any(c["type"] == "Ready" and c["status"] == "True"
                   for c in n["status"].get("conditions", []))}


def _originals_back(b: Backup) -> None:
    cm = json.loads(b.kubectl("get", "configmap", "br-config", "-o", "json").stdout)
    assert cm["data"] == {"color": "blue"}
    secret = json.loads(b.kubectl("get", "secret", "br-secret", "-o", "json").stdout)
    assert base64.b64decode(secret["data"]["password"]).decode() == PASSWORD


def test_backup_archive_holds_snapshot_keys_and_manifest(backed_up: Backup) -> None:
    b = backed_up
    assert b.archive.stat().st_mode & 0o777 == 0o600
    assert PASSWORD not in b.output
    assert base64.b64encode(PASSWORD.encode()).decode() not in b.output
    with tarfile.open(b.archive, "r:gz") as tar:
        names = set(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        snapshot = tar.extractfile("store/etcd.db").read()  # type: ignore[union-attr]
    assert manifest["cluster"] == b.lab.name
    assert manifest["store"] == "etcd"
    assert [m["name"] for m in manifest["members"]] == [f"{b.lab.name}-cp1"]
    assert {"state/encryption.yaml", "state/pki/ca.crt", "state/pki/sa.key"} <= names
    assert len(snapshot) == manifest["snapshot"]["size"]
    assert b"br-config" in snapshot  # the objects are in it
    assert PASSWORD.encode() not in snapshot  # Secrets stay encrypted at rest


def test_restore_brings_back_the_backup_and_drops_later_objects(backed_up: Backup,
                                                                kboot: Kboot) -> None:
    b = backed_up
    b.kubectl("delete", "configmap", "br-config")
    b.kubectl("delete", "secret", "br-secret")
    b.kubectl("create", "configmap", "br-later", "--from-literal=x=1")
    proc = kboot("restore", b.inventory, str(b.archive), "--yes")
    assert PASSWORD not in proc.stdout + proc.stderr
    _originals_back(b)
    later = b.kubectl("get", "configmap", "br-later", check=False)
    assert later.returncode != 0 and "not found" in later.stderr.lower()
    assert _ready(b.kubectl) == {n.name for n in b.lab.nodes}
    cp1 = f"{b.lab.name}-cp1"
    # the pre-restore data was removed once the cluster verified
    assert b.lab.exec(cp1, ["test", "-e", f"{DATA_DIR}.bak"]).exit_code != 0
    assert b.lab.exec(cp1, ["test", "-d", f"{DATA_DIR}/member"]).exit_code == 0


def test_restore_interrupted_mid_swap_converges_on_rerun(backed_up: Backup,
                                                         kboot: Kboot) -> None:
    """As left by a restore killed between its two renames: etcd and the control plane
    stopped, the old data moved to .bak, no data dir at all."""
    b = backed_up
    b.kubectl("delete", "configmap", "br-config")
    cp1 = f"{b.lab.name}-cp1"
    cut = b.lab.exec(cp1, ["sh", "-c", (
        "systemctl stop kboot-apiserver kboot-scheduler kboot-controller-manager kboot-etcd"
        f" && mv {DATA_DIR} {DATA_DIR}.bak")])
    assert cut.exit_code == 0, cut.stderr
    kboot("restore", b.inventory, str(b.archive), "--yes")
    _originals_back(b)
    assert _ready(b.kubectl) == {n.name for n in b.lab.nodes}
    assert b.lab.exec(cp1, ["test", "-e", f"{DATA_DIR}.bak"]).exit_code != 0


def test_backup_of_another_cluster_is_refused(backed_up: Backup, kboot: Kboot,
                                              tmp_path: Path) -> None:
    b = backed_up
    data = yaml.safe_load(Path(b.inventory).read_text())
    data.setdefault("cluster", {})["name"] = "othercluster"
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(data))
    cp1 = f"{b.lab.name}-cp1"
    since = "systemctl show -p ActiveEnterTimestamp --value kboot-etcd kboot-apiserver"
    before = b.lab.exec(cp1, ["sh", "-c", since]).stdout
    proc = kboot("restore", str(other), str(b.archive), "--yes", check=False)
    assert proc.returncode == 2
    message = "".join(proc.stderr.split())  # the terminal may wrap it anywhere
    assert message.startswith("".join(
        f"error: {b.archive} is a backup of cluster '{b.lab.name}', but {other} describes "
        "cluster 'othercluster'; refusing".split()))
    assert "Traceback" not in proc.stderr + proc.stdout
    assert b.lab.exec(cp1, ["sh", "-c", since]).stdout == before  # nothing was stopped
    _originals_back(b)
