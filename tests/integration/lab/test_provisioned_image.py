"""The provisioned lab image: cluster packages installed, their services off (on a one-node lab
of its own, the first shape of the session's lab groups, tests/fixtures/lab.py)."""

from __future__ import annotations

import pytest

from tests.fixtures.lab import LabFactory, Shape

pytestmark = pytest.mark.lab
LABS = (Shape(1, 0, "provisioned"),)


def test_provisioned_image_has_cluster_packages_installed_not_running(
        lab_factory: LabFactory) -> None:
    lab = lab_factory(1, 0, image="provisioned")
    found = lab.exec("cp1", ["which", "etcd", "runc", "haproxy", "containerd"], check=True)
    assert len(found.stdout.split()) == 4
    enabled = lab.exec("cp1", ["systemctl", "is-enabled", "etcd", "containerd"])
    assert enabled.stdout.split() == ["disabled", "disabled"]
    assert lab.exec("cp1", ["ls", "/usr/lib/cni/bridge"]).exit_code == 0
