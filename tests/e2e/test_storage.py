"""Dynamic local storage on a ``kboot up`` cluster (issue 17, storage acceptance), on the
shared 1 + 1 provisioned lab: the default ``local-path`` class ``kboot up`` installs; a
StatefulSet with ``volumeClaimTemplates`` and no ``storageClassName`` starts both pods; a
deleted ``db-0`` comes back on the same node with the file it wrote; scaled down with its
claims deleted, ``Delete`` removes the data from the node and ``Retain`` keeps it; a claim
naming a class that does not exist leaves its pod Pending with an event naming the class."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from subprocess import CompletedProcess

import pytest

from kboot.lab import Lab
from tests.e2e.conftest import KUBECTL, Kboot
from tests.fixtures.lab import LabFactory, Shape
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 1, "provisioned"),)
BB = "kboot.io/busybox:1.35"
NS = "storage"


@dataclass(frozen=True)
class Cluster:
    lab: Lab
    kubectl: Callable[..., CompletedProcess[str]]

    def statefulset(self, name: str, replicas: int, cls: str | None = None) -> None:
        claim: dict[str, object] = {"accessModes": ["ReadWriteOnce"],
                                    "resources": {"requests": {"storage": "1Gi"}}}
        if cls:
            claim["storageClassName"] = cls
        manifest = {
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"serviceName": name, "replicas": replicas,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "c", "image": BB,
                                         "command": ["sh", "-c", "sleep 3600"],
                                         "volumeMounts": [{"name": "data",
                                                           "mountPath": "/data"}]}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": claim}]}}
        self.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    def get(self, *args: str) -> dict[str, object]:
        out: dict[str, object] = json.loads(self.kubectl("get", *args, "-o", "json").stdout)
        return out

    def volume_of(self, claim: str) -> tuple[str, str, str]:
        """(PV name, node, directory) of a bound claim."""
        name = str(self.kubectl("-n", NS, "get", "pvc", claim, "-o",
                                "jsonpath={.spec.volumeName}").stdout)
        pv = self.get("pv", name)
        spec = pv["spec"]
        assert isinstance(spec, dict)
        term = spec["nodeAffinity"]["required"]["nodeSelectorTerms"][0]
        return name, term["matchExpressions"][0]["values"][0], spec["hostPath"]["path"]

    def on_node(self, node: str, script: str) -> str:
        res = self.lab.exec(node, ["sh", "-c", script])
        assert res.exit_code == 0, res.stderr
        return str(res.stdout)

    def scale_down_and_delete_claims(self, sts: str, claims: list[str]) -> None:
        self.kubectl("-n", NS, "scale", "statefulset", sts, "--replicas=0")
        self.kubectl("-n", NS, "wait", "--for=delete", "pod", "-l", f"app={sts}",
                     "--timeout=120s", timeout=150)
        self.kubectl("-n", NS, "delete", "pvc", *claims, "--timeout=120s", timeout=150)


def _kubectl(kboot: Kboot, cluster: str, *args: str, input: str | None = None,
             timeout: float = 180, check: bool = True) -> CompletedProcess[str]:
    cmd = [KUBECTL, "--kubeconfig", str(kboot.kubeconfig(cluster)), *args]
    proc = subprocess.run(cmd, env=kboot.env(), input=input, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} exited {proc.returncode}\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def cluster(lab_factory: LabFactory, kboot: Kboot) -> Cluster:
    lab = lab_factory(1, 1, image="provisioned")
    kboot.converge(lab)  # the shared 1 + 1 cluster (reset first only if another was left)
    c = Cluster(lab, partial(_kubectl, kboot, lab.name))
    c.kubectl("delete", "namespace", NS, "--ignore-not-found", "--timeout=180s", timeout=200)
    c.kubectl("create", "namespace", NS)
    return c


def test_kboot_up_installs_the_default_local_path_class(cluster: Cluster) -> None:
    out = cluster.kubectl("get", "sc").stdout
    assert out.split("\n")[0].split() == ["NAME", "PROVISIONER", "RECLAIMPOLICY",
                                          "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"]
    row = next(line.split() for line in out.splitlines() if line.startswith("local-path"))
    assert row[:6] == ["local-path", "(default)", "kboot.io/local-path", "Delete",
                       "WaitForFirstConsumer", "true"]


def test_statefulset_data_follows_its_pod_and_delete_removes_it(cluster: Cluster) -> None:
    cluster.statefulset("db", 2)
    cluster.kubectl("-n", NS, "rollout", "status", "statefulset/db", "--timeout=240s",
                    timeout=260)
    cluster.kubectl("-n", NS, "exec", "db-0", "--", "sh", "-c", "echo kept-db-0 > /data/f")
    first = cluster.kubectl("-n", NS, "get", "pod", "db-0", "-o",
                            "jsonpath={.spec.nodeName}").stdout
    volumes = [cluster.volume_of(f"data-db-{i}") for i in range(2)]
    assert volumes[0][1] == first  # the volume is on the node the scheduler chose
    cluster.kubectl("get", "pv,pvc", "-n", NS)  # served with upstream's columns

    cluster.kubectl("-n", NS, "delete", "pod", "db-0", "--timeout=120s", timeout=150)
    cluster.kubectl("-n", NS, "rollout", "status", "statefulset/db", "--timeout=240s",
                    timeout=260)
    again = cluster.kubectl("-n", NS, "get", "pod", "db-0", "-o",
                            "jsonpath={.spec.nodeName}").stdout
    assert again == first
    read = cluster.kubectl("-n", NS, "exec", "db-0", "--", "cat", "/data/f").stdout
    assert read.strip() == "kept-db-0"

    _, node, path = volumes[0]
    assert cluster.on_node(node, f"cat {path}/f").strip() == "kept-db-0"
    cluster.scale_down_and_delete_claims("db", ["data-db-0", "data-db-1"])
    for name, node, path in volumes:
        cluster.kubectl("wait", "--for=delete", f"pv/{name}", "--timeout=120s", timeout=150)
        assert cluster.on_node(node, f"test -e {path} && echo present || echo gone"
                               ).strip() == "gone"


def test_retain_keeps_the_data(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "local-keep"}, "provisioner": "kboot.io/local-path",
        "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer"}))
    cluster.statefulset("kept", 1, cls="local-keep")
    cluster.kubectl("-n", NS, "rollout", "status", "statefulset/kept", "--timeout=240s",
                    timeout=260)
    cluster.kubectl("-n", NS, "exec", "kept-0", "--", "sh", "-c", "echo retained > /data/f")
    name, node, path = cluster.volume_of("data-kept-0")
    cluster.scale_down_and_delete_claims("kept", ["data-kept-0"])
    cluster.kubectl("wait", "--for=jsonpath={.status.phase}=Released", f"pv/{name}",
                    "--timeout=120s", timeout=150)
    assert cluster.on_node(node, f"cat {path}/f").strip() == "retained"
    # deleting the Released volume by hand removes its data too
    cluster.kubectl("delete", "pv", name, "--timeout=120s", timeout=150)
    assert cluster.on_node(node, f"test -e {path} && echo present || echo gone"
                           ).strip() == "gone"
    cluster.kubectl("delete", "sc", "local-keep")


def test_an_unknown_class_leaves_the_pod_pending_with_an_event(cluster: Cluster) -> None:
    cluster.statefulset("nope", 1, cls="fast-ssd")

    def message() -> str | None:
        out = cluster.kubectl("-n", NS, "get", "events", "--field-selector",
                              "involvedObject.name=nope-0,reason=FailedScheduling", "-o",
                              "jsonpath={.items[*].message}").stdout
        return out or None

    text = wait_until("FailedScheduling naming the class", message, timeout=120)
    assert 'storageclass.storage.k8s.io "fast-ssd" not found' in text
    pod = cluster.get("-n", NS, "pod", "nope-0")
    status = pod["status"]
    assert isinstance(status, dict) and status["phase"] == "Pending"
    assert "CreateContainerConfigError" not in json.dumps(pod)
    cluster.kubectl("delete", "namespace", NS, "--timeout=180s", timeout=200)
