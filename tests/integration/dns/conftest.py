"""A one-node cluster (slot 13) plus kboot-dns on the node's host-side address, port 53."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.integration.kubelet.cluster import Cluster, one_node_cluster
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with one_node_cluster(slot=13) as c:
        yield c


@pytest.fixture(scope="module")
def dns(cluster: Cluster) -> Iterator[subprocess.Popen[bytes]]:
    log = cluster.node.workdir / "dns.log"
    # A kubeconfig inside the node's work dir puts that path on the command line, so the
    # leftover cleanup of a crashed run finds and kills this process too.
    kubeconfig = cluster.node.workdir / "dns.kubeconfig"
    shutil.copy(cluster.server.kubeconfig, kubeconfig)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from kboot.controlplane.dns.main import main; "
             "sys.exit(main(sys.argv[1:]))", "--kubeconfig", str(kubeconfig),
             "--bind", cluster.node.host_ip, "--port", "53"],
            stdout=out, stderr=subprocess.STDOUT)

    def serving() -> bool:
        assert proc.poll() is None, f"kboot-dns exited: {log.read_text()[-2000:]}"
        return "DNS serving on" in log.read_text()

    try:
        wait_until("kboot-dns to serve", serving, timeout=30,
                   diagnose=lambda: log.read_text()[-2000:])
        yield proc
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        proc.kill()
