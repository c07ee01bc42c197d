"""Losing a control plane keeps pulls working: two registry "control planes" (127.0.0.1 and
127.0.0.2, same ports, own stores), a push replicated to both, then the first one killed —
containerd, with kboot's hosts.toml, pulls from the second."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from kboot.cluster.imagepush import replicate, require_complete
from kboot.images import build_busybox
from kboot.images.distribution import DistributionClient
from tests.integration.registry.harness import run_registry
from tests.integration.registry.test_cri_pull import pull, run_containerd, write_hosts
from tests.integration.registry.test_push import MANIFESTS, node


def test_pulls_survive_the_loss_of_one_control_plane(tmp_path: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="kbr-ha-"))
    try:
        with run_registry(tmp_path / "cp1") as cp1, \
                run_registry(tmp_path / "cp2", address="127.0.0.2", like=cp1) as cp2:
            image = build_busybox(tmp_path / "bb.tar", name="docker.io/library/busybox:latest")
            report = replicate([node(cp1), node(cp2)], [tmp_path / "bb.tar"])
            require_complete(report)
            for reg in (cp1, cp2):  # each store is complete on its own
                got = DistributionClient(reg.endpoint("mirror")).get_manifest(
                    "docker.io/library/busybox", "latest", MANIFESTS)
                assert got.headers["docker-content-digest"] == image.manifest_digest
            write_hosts(cp1, work / "certs.d", others=("127.0.0.2",))
            cp1.stop()
            with run_containerd(work, work / "certs.d") as endpoint:
                assert pull(endpoint, "busybox") == image.config_digest
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(autouse=True)
def _loopback_2() -> None:
    import socket
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.2", 0))
        except OSError:
            pytest.skip("127.0.0.2 is not usable here")
