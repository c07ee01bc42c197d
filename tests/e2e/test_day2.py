"""Day-2 commands on a small lab cluster (1 control plane + 1 worker): ``kboot status``,
``logs`` (pod and component), ``exec`` (pod over WebSocket v5, and many hosts through the engine),
and ``get``/``apply``/``delete`` for users without kubectl."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from kboot.lab import Lab
from tests.e2e.conftest import Kboot
from tests.fixtures.lab import LabFactory, Shape

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 1, "provisioned"),)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello.yaml"
LOGGER = """\
apiVersion: v1
kind: Pod
metadata:
  name: day2-logger
  namespace: hello
spec:
  containers:
    - name: main
      image: kboot.io/busybox:1.35
      imagePullPolicy: IfNotPresent
      command: ["sh", "-c", "trap 'exit 0' TERM; echo day2-log-line; while :; do sleep 1; done"]
"""


@pytest.fixture(scope="module")
def small(lab_factory: LabFactory, kboot: Kboot) -> Lab:
    # the pre-provisioned image (cluster packages installed, services off) saves the package
    # installation; these tests are about day-2 commands, not about installing
    lab = lab_factory(1, 1, image="provisioned")
    kboot.up(lab.inventory_path)
    return lab


@pytest.fixture(scope="module")
def inv(small: Lab) -> str:
    return str(small.inventory_path)


@pytest.fixture(scope="module")
def app(kboot: Kboot, inv: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    logger = tmp_path_factory.mktemp("day2") / "logger.yaml"
    logger.write_text(LOGGER)
    out = kboot("apply", inv, "-f", str(EXAMPLE)).stdout
    for line in ("namespace/hello created", "deployment.apps/hello created",
                 "service/hello created", "secret/hello-token created"):
        assert line in out
    kboot("apply", inv, "-f", str(logger))
    _wait_running(kboot, inv, count=4)
    return logger


def _wait_running(kboot: Kboot, inv: str, *, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    phases: list[str] = []
    while time.monotonic() < deadline:
        out = kboot("get", inv, "pods", "-n", "hello", "-o",
                    "jsonpath={.items[*].status.phase}").stdout
        phases = out.split()
        if phases.count("Running") >= count:
            return
        time.sleep(2)
    raise AssertionError(f"pods not Running after {timeout:.0f}s: {phases}")


def test_status_all_healthy_with_etcd_leader(kboot: Kboot, inv: str, small: Lab) -> None:
    text = kboot("status", inv)
    assert "all healthy" in text.stdout
    report = json.loads(kboot("status", inv, "-o", "json").stdout)
    assert report["healthy"] is True and report["problems"] == []
    assert {n["name"] for n in report["nodes"]} == {n.name for n in small.nodes}
    assert all(all(s == "active" for s in h["units"].values()) for h in report["hosts"])
    assert "kboot-etcd" in report["hosts"][0]["units"]
    assert [m["leader"] for m in report["etcd"]] == [True]
    assert report["leaders"]["kube-scheduler"] and report["leaders"]["kube-controller-manager"]
    assert report["certificates"] and report["certificates"][0]["daysLeft"] > 300
    kubelet = {c["path"].split(":", 1)[0]: c for c in report["certificates"]
               if c["path"].endswith(":/var/lib/kboot/kubelet/pki/kubelet-client-current.pem")}
    assert set(kubelet) == {n.name for n in small.nodes}, report["certificates"]
    assert all(c["subject"] == f"system:node:{name}" and c["daysLeft"] > 300
               for name, c in kubelet.items()), kubelet


def test_get_pods_wide(kboot: Kboot, inv: str, app: Path, small: Lab) -> None:
    out = kboot("get", inv, "pods", "-n", "hello", "-o", "wide").stdout.splitlines()
    assert out[0].split()[:3] == ["NAME", "READY", "STATUS"] and "NODE" in out[0]
    rows = [line.split() for line in out[1:]]
    assert sum(r[0].startswith("hello-") for r in rows) == 3
    assert all(r[2] == "Running" for r in rows)
    nodes = {n.name for n in small.nodes}
    assert all(any(cell in nodes for cell in r) for r in rows)
    secrets = kboot("get", inv, "secrets", "-n", "hello").stdout
    assert "hello-token" in secrets and "s3cr3t" not in secrets


def test_pod_logs_and_component_logs(kboot: Kboot, inv: str, app: Path, small: Lab) -> None:
    assert "day2-log-line" in kboot("logs", inv, "day2-logger", "-n", "hello").stdout
    out = kboot("logs", inv, "--component", "kubelet", "--tail", "5").stdout
    for node in small.nodes:
        assert any(line.startswith(f"{node.name} ") and " | " in line
                   for line in out.splitlines()), out[-2000:]


def test_exec_in_pod_exit_code_and_stdin(kboot: Kboot, inv: str, app: Path) -> None:
    failed = kboot("exec", inv, "day2-logger", "-n", "hello", "--", "sh", "-c",
                   "echo out; exit 3", check=False)
    assert failed.returncode == 3 and "out" in failed.stdout
    proc = subprocess.run([sys.executable, "-m", "kboot.cli.main", "exec", inv, "-i",
                           "day2-logger", "-n", "hello", "--", "cat"], input="hi\n",
                          env=kboot.env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "hi\n", proc.stderr


def test_exec_on_hosts(kboot: Kboot, inv: str, small: Lab) -> None:
    out = kboot("exec", inv, "--hosts", "all", "--", "hostname").stdout
    for node in small.nodes:
        assert f"── {node.name} (exit 0) ──\n{node.name}\n" in out
    failed = kboot("exec", inv, "--hosts", "all", "--", "exit 4", check=False)
    assert failed.returncode == 1 and "(exit 4)" in failed.stdout


def test_bad_input_is_a_clear_error(kboot: Kboot, inv: str, tmp_path: Path) -> None:
    unknown = kboot("get", inv, "frobnicators", check=False)
    assert unknown.returncode == 2 and "frobnicators" in unknown.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n  data: [\n")
    broken = kboot("apply", inv, "-f", str(bad), check=False)
    assert broken.returncode == 2 and f"{bad}:4" in broken.stderr
    assert "Traceback" not in broken.stderr + unknown.stderr


def test_delete_by_name_and_manifests(kboot: Kboot, inv: str, app: Path) -> None:
    out = kboot("delete", inv, "pod", "day2-logger", "-n", "hello", "--wait").stdout
    assert out == "pod/day2-logger deleted\n"
    assert kboot("get", inv, "pods", "day2-logger", "-n", "hello", check=False).returncode == 1
    again = kboot("delete", inv, "pod", "day2-logger", "-n", "hello", check=False)
    assert again.returncode == 1 and "NotFound" in again.stderr
    out = kboot("delete", inv, "-f", str(EXAMPLE)).stdout
    assert "deployment.apps/hello deleted" in out and out.endswith("namespace/hello deleted\n")


def test_image_load_pushes_and_imports_on_every_host(
        kboot: Kboot, inv: str, small: Lab, tmp_path: Path) -> None:
    image = tmp_path / "web.tar"
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("loaded image\n")
    kboot("image", "build", str(site), "--name", "kboot.io/loaded:1", "--base-busybox",
          "-o", str(image), "--cmd", "httpd", "-f", "-p", "8080", "-h", "/")
    first = kboot("image", "load", str(image), "-i", inv)
    assert "changed" in first.stdout
    for node in small.nodes:
        listed = small.exec(node.name, ["ctr", "-n", "k8s.io", "images", "ls", "-q"])
        assert "kboot.io/loaded:1" in listed.stdout.split()
    again = kboot("image", "load", str(image), "-i", inv)  # unchanged: nothing sent or imported
    assert "changed:" not in again.stdout


STATEFUL = """\
apiVersion: v1
kind: Namespace
metadata: {name: vol}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: data, namespace: vol}
spec:
  serviceName: data
  replicas: 1
  selector: {matchLabels: {app: data}}
  template:
    metadata: {labels: {app: data}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: main
          image: kboot.io/busybox:1.35
          command: ["sh", "-c", "trap 'exit 0' TERM; echo boot >> /data/boots; while :; do
                    sleep 1; done"]
          volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec:
        storageClassName: local-path
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 1Gi}}
"""


def test_local_path_volume_outlives_its_pod(
        kboot: Kboot, small: Lab, tmp_path: Path) -> None:
    """A StatefulSet's claim is provisioned on the pod's node by the controller-manager's
    local-path provisioner (a PV with node affinity, a directory under
    /var/lib/kboot/local-path), bound, and its data is still there for the pod that replaces a
    deleted one."""
    manifest = tmp_path / "stateful.yaml"
    manifest.write_text(STATEFUL)
    kubectl = partial(kboot.kubectl, small.name)
    kubectl("apply", "-f", str(manifest))

    def running_uid() -> str:
        out = kubectl("-n", "vol", "get", "pod", "data-0", "-o",
                      "jsonpath={.metadata.uid} {.status.phase}", check=False).stdout.split()
        return out[0] if out[1:] == ["Running"] else ""
    first = _poll(running_uid, 120, "data-0 Running")
    worker = next(n.name for n in small.nodes if n.role == "worker")
    claim = json.loads(kubectl("-n", "vol", "get", "pvc", "data-data-0", "-o", "json").stdout)
    log = small.exec(worker, ["sh", "-c", "journalctl -u kboot-kubelet --no-pager -o cat | "
                                          "grep -iE 'claim|provision|forbidden' | tail -20"])
    assert claim["status"].get("phase") == "Bound", (claim, log.stdout)
    pv = json.loads(kubectl("get", "pv", claim["spec"]["volumeName"], "-o", "json").stdout)
    assert pv["spec"]["claimRef"]["name"] == "data-data-0"
    _poll(lambda: kubectl("get", "pv", claim["spec"]["volumeName"], "-o",
                          "jsonpath={.status.phase}").stdout == "Bound", 30, "PV Bound")
    terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == [worker]
    path = pv["spec"]["hostPath"]["path"]
    assert path.startswith("/var/lib/kboot/local-path/")
    boots = f"{path}/boots"
    _poll(lambda: small.exec(worker, ["cat", boots]).stdout == "boot\n", 30, "first write")

    kubectl("-n", "vol", "delete", "pod", "data-0", "--wait=true", timeout=120)
    second = _poll(lambda: (uid := running_uid()) != first and uid, 120, "data-0 replaced")
    assert second != first
    # the replacement appended to the same file: the data outlived the first pod
    _poll(lambda: small.exec(worker, ["cat", boots]).stdout == "boot\nboot\n", 30,
          "second write on the kept volume")
    kubectl("delete", "namespace", "vol", "--wait=false")


def _poll(fn, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := fn():
            return result
        time.sleep(1)
    raise AssertionError(f"{what}: not within {timeout:.0f}s")
