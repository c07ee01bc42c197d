"""The cluster registry on an HA control plane (3 control planes + 1 worker): an image pushed
before one control plane is lost still pulls on the worker (every control plane holds a
replica). The registry's other behaviour is ``test_registry.py`` on the 1 + 2 lab; this module
is the one test that needs three control planes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kboot.images import build_busybox
from kboot.lab import Lab
from tests.e2e.conftest import Kboot
from tests.e2e.test_registry import _pod, _pod_state
from tests.fixtures.lab import LabFactory, Shape
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(3, 1, "provisioned"),)


@pytest.fixture(scope="module")
def ha_lab(lab_factory: LabFactory, kboot: Kboot) -> Lab:
    lab = lab_factory(3, 1, image="provisioned")
    kboot.up(lab.inventory_path)
    return lab


def test_pulls_survive_the_loss_of_a_control_plane(kboot: Kboot, ha_lab: Lab,
                                                   tmp_path: Path) -> None:
    """cp1 (the first registry, and the VIP's preferred holder) powered off: a tag pushed
    before (replicated to every control plane) and never pulled yet still pulls on the worker."""
    build_busybox(tmp_path / "ha.tar", name="docker.io/library/busybox:ha")
    kboot("image", "push", str(tmp_path / "ha.tar"), "-i", str(ha_lab.inventory_path))
    cluster, worker = ha_lab.name, f"{ha_lab.name}-w1"
    ha_lab.kill("cp1")
    try:
        pod = json.loads(_pod("after-loss", "docker.io/library/busybox:ha"))
        pod["spec"]["nodeName"] = worker
        (tmp_path / "pod.json").write_text(json.dumps(pod))
        wait_until("the API at the moved VIP", lambda: kboot.kubectl(
            cluster, "apply", "-f", str(tmp_path / "pod.json"), check=False).returncode == 0,
            timeout=180, interval=2)
        wait_until("the pod pulled and running on the worker", lambda: json.loads(
            kboot.kubectl(cluster, "get", "pod", "after-loss", "-o", "json", check=False).stdout
            or "{}").get("status", {}).get("phase") == "Running", timeout=240, interval=2,
            diagnose=lambda: _pod_state(kboot, cluster, "after-loss"))
    finally:
        ha_lab.start("cp1")
