"""The cluster registry on a lab (1 control plane + 2 workers, w2 added later): `kboot image
push` of tarballs, `docker.io/library/NAME:latest` with `imagePullPolicy: Always` on every node
(the added worker too), a never-pushed name failing with ErrImagePull naming the registry, a
private image needing its pull secret. Run with KBOOT_TEST_BUNDLE pointing at a bundle cache of
this branch (docker-registry is in its repository)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from kboot.images import build_busybox
from kboot.images.standins import build_standins
from kboot.lab import Lab
from tests.e2e.conftest import Kboot
from tests.fixtures.lab import LabFactory, Shape
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(1, 2, "provisioned"),)
# before the other modules on the 1 + 2 lab (tests/fixtures/lab.py): its first install (two
# nodes, w2 joined later) then meets bare machines, and the next modules converge its cluster
RUNS_FIRST_ON_ITS_LAB = True

DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: everywhere, namespace: default}
spec:
  selector: {matchLabels: {app: everywhere}}
  template:
    metadata: {labels: {app: everywhere}}
    spec:
      tolerations: [{operator: Exists}]
      terminationGracePeriodSeconds: 2
      containers:
        - name: main
          image: docker.io/library/busybox:latest
          imagePullPolicy: Always
          command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
"""


def _pod(name: str, image: str, *, secret: str = "") -> str:
    spec: dict[str, object] = {
        "terminationGracePeriodSeconds": 1, "tolerations": [{"operator": "Exists"}],
        "containers": [{"name": "main", "image": image, "imagePullPolicy": "Always",
                        "command": ["sh", "-c", "sleep 3600"]}]}
    if secret:
        spec["imagePullSecrets"] = [{"name": secret}]
    return json.dumps({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": "default"}, "spec": spec})


def _poll(fn: Callable[[], object], timeout: float, what: str) -> object:
    return wait_until(what, fn, timeout=timeout, interval=2)


@pytest.fixture(scope="module")
def reg_lab(lab_factory: LabFactory) -> Lab:
    return lab_factory(1, 2, image="provisioned")


@pytest.fixture(scope="module", autouse=True)
def _leaves_the_cluster_as_found(kboot: Kboot, reg_lab: Lab) -> Iterator[None]:
    """The lab's later modules drain its workers: bare pods left behind (no controller) would
    make every ``kubectl drain`` refuse the node (test_pdb_drain.py runs after this module)."""
    yield
    kboot.kubectl(reg_lab.name, "delete", "pod", "nothere", "private-without", "private-with",
                  "--ignore-not-found", "--timeout=90s", timeout=120, check=False)
    kboot.kubectl(reg_lab.name, "delete", "daemonset", "everywhere", "--ignore-not-found",
                  "--wait=false", check=False)
    kboot.kubectl(reg_lab.name, "delete", "secret", "regcred", "--ignore-not-found",
                  check=False)


@pytest.fixture(scope="module")
def first_two(reg_lab: Lab, kboot: Kboot, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = yaml.safe_load(reg_lab.inventory_path.read_text())
    w2 = f"{reg_lab.name}-w2"
    del data["hosts"][w2]
    data["groups"]["workers"]["hosts"].remove(w2)
    path = tmp_path_factory.mktemp("inv") / "two-nodes.yaml"
    path.write_text(yaml.safe_dump(data))
    kboot.bare(reg_lab)  # another module may have joined w2 already (test_netpol shares the lab)
    kboot.up(path)
    return path


def _running_on(kboot: Kboot, cluster: str) -> set[str]:
    items = json.loads(kboot.kubectl(cluster, "get", "pods", "-l", "app=everywhere", "-o",
                                     "json").stdout)["items"]
    return {p["spec"].get("nodeName", "") for p in items
            if p.get("status", {}).get("phase") == "Running"}


def _pull_failures(kboot: Kboot, cluster: str, pod: str) -> list[str]:
    """The messages of the pod's ``Failed`` events (they outlive the ErrImagePull state,
    which turns into ImagePullBackOff between attempts)."""
    items = json.loads(kboot.kubectl(cluster, "get", "events", "-o", "json").stdout)["items"]
    return [e.get("message", "") for e in items
            if e.get("involvedObject", {}).get("name") == pod and e.get("reason") == "Failed"]


def _pod_state(kboot: Kboot, cluster: str, pod: str) -> str:
    return kboot.kubectl(cluster, "get", "pod", pod, "-o", "json", check=False).stdout[-2000:]


def _waiting(kboot: Kboot, cluster: str, pod: str) -> dict[str, str]:
    status = json.loads(kboot.kubectl(cluster, "get", "pod", pod, "-o", "json").stdout)
    for st in status.get("status", {}).get("containerStatuses") or []:
        return st.get("state", {}).get("waiting") or {}
    return {}


def test_pushed_images_run_everywhere_including_a_worker_added_later(
        kboot: Kboot, reg_lab: Lab, first_two: Path, tmp_path: Path) -> None:
    images = [str(p) for p, _ in build_standins(tmp_path)]
    out = kboot("image", "push", *images, "-i", str(first_two)).stdout
    assert "pushed docker.io/library/busybox:latest@sha256:" in out
    listing = kboot("image", "list", "-i", str(first_two)).stdout
    assert "docker.io/library/python  latest" in listing
    assert "kboot.io/pause  3.9" in listing  # kboot's own images went through it too
    cluster = reg_lab.name
    daemonset = tmp_path / "ds.yaml"
    daemonset.write_text(DAEMONSET)
    kboot.kubectl(cluster, "apply", "-f", str(daemonset))
    two = {f"{cluster}-cp1", f"{cluster}-w1"}
    _poll(lambda: _running_on(kboot, cluster) >= two, 240, "busybox on cp1 and w1")
    kboot.up(reg_lab.inventory_path)  # w2 joins: nothing is loaded on it by hand
    _poll(lambda: _running_on(kboot, cluster) == {n.name for n in reg_lab.nodes}, 300,
          "busybox on every node, w2 included")


def test_a_never_pushed_image_fails_naming_the_registry(kboot: Kboot, reg_lab: Lab,
                                                        first_two: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "nothere.json"
    manifest.write_text(_pod("nothere", "docker.io/library/nothere:latest"))
    kboot.kubectl(reg_lab.name, "apply", "-f", str(manifest))
    failures = wait_until("a Failed pull event", lambda: _pull_failures(
        kboot, reg_lab.name, "nothere"), timeout=180, interval=2,
        diagnose=lambda: _pod_state(kboot, reg_lab.name, "nothere"))
    assert "not found" in failures[0]
    assert "127.0.0.1:5000/v2/docker.io" in failures[0]  # the registry it was looked up in
    assert _waiting(kboot, reg_lab.name, "nothere").get("reason") in (
        "ErrImagePull", "ImagePullBackOff")


def test_a_private_image_needs_its_pull_secret(kboot: Kboot, reg_lab: Lab, first_two: Path,
                                               tmp_path: Path) -> None:
    build_busybox(tmp_path / "private.tar", name="registry.kboot.internal/team/app:1")
    kboot("image", "push", str(tmp_path / "private.tar"), "-i", str(first_two))
    secret = tmp_path / "secret.yaml"
    secret.write_text(kboot("image", "pull-secret", "-i", str(first_two), "--name", "regcred")
                      .stdout)
    kboot.kubectl(reg_lab.name, "apply", "-f", str(secret))
    for name, pull_secret in (("private-without", ""), ("private-with", "regcred")):
        path = tmp_path / f"{name}.json"
        path.write_text(_pod(name, "registry.kboot.internal/team/app:1", secret=pull_secret))
        kboot.kubectl(reg_lab.name, "apply", "-f", str(path))
    _poll(lambda: json.loads(kboot.kubectl(reg_lab.name, "get", "pod", "private-with", "-o",
                                           "json").stdout)["status"].get("phase") == "Running",
          180, "the pod with the pull secret running")
    failures = wait_until("a Failed pull event without the secret", lambda: _pull_failures(
        kboot, reg_lab.name, "private-without"), timeout=180, interval=2,
        diagnose=lambda: _pod_state(kboot, reg_lab.name, "private-without"))
    assert "401" in failures[0]


def test_push_and_list_through_ssh_tunnels(kboot: Kboot, reg_lab: Lab, first_two: Path,
                                           tmp_path: Path) -> None:
    """--via-ssh: the registry reached over the control plane's SSH connection (127.0.0.1 on
    the workstation, the cluster CA still checked)."""
    build_busybox(tmp_path / "t.tar", name="quay.io/acme/tunnelled:1")
    out = kboot("image", "push", "--via-ssh", str(tmp_path / "t.tar"), "-i",
                str(first_two)).stdout
    assert "pushed quay.io/acme/tunnelled:1@sha256:" in out
    listing = kboot("image", "list", "--via-ssh", "-i", str(first_two)).stdout
    assert "quay.io/acme/tunnelled  1" in listing
