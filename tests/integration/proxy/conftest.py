"""A one-node cluster (slot 12) plus a kboot-proxy applying rules inside the node's netns."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.integration.kubelet.cluster import Cluster, one_node_cluster

PROXY = ["-c", "import sys; from kboot.controlplane.proxy.main import main; "
         "sys.exit(main(sys.argv[1:]))"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with one_node_cluster(slot=12) as c:
        yield c


@pytest.fixture(scope="module")
def proxy(cluster: Cluster) -> Iterator[subprocess.Popen[bytes]]:
    netns = f"/run/netns/{cluster.node.netns}"
    log = cluster.node.workdir / "proxy.log"
    kubeconfig = cluster.node.workdir / "proxy.kubeconfig"  # (see the dns conftest)
    shutil.copy(cluster.server.kubeconfig, kubeconfig)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, *PROXY, "--kubeconfig",
                                 str(kubeconfig), "--node-name", "kbt-node",
                                 "--cluster-cidr", cluster.node.pod_cidr, "--netns", netns],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        proc.kill()
        subprocess.run([sys.executable, *PROXY, "--kubeconfig", "-", "--netns", netns,
                        "--cleanup"], check=False, capture_output=True)
