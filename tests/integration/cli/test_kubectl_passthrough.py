"""``kboot kubectl`` end to end: the real kubectl (on PATH) reaches a real apiserver
(tests/fixtures/apiserver.py) through the cluster's admin kubeconfig in ``$KBOOT_HOME``, found
by cluster name and by inventory; kubectl's exit code is kboot's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.apiserver import ApiServer

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not on PATH")]

TREE = Path(__file__).resolve().parents[3]


def kboot(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KBOOT_HOME": str(home), "HOME": str(home), "PYTHONPATH": str(TREE)}
    env.pop("KUBECONFIG", None)
    return subprocess.run([sys.executable, "-m", "kboot.cli.main", "kubectl", *argv], env=env,
                          capture_output=True, text=True, check=False, timeout=60)


def test_kubectl_through_the_clusters_kubeconfig(apiserver: ApiServer, tmp_path: Path) -> None:
    config = tmp_path / "clusters" / "t1" / "kubeconfigs" / "admin.kubeconfig"
    config.parent.mkdir(parents=True)
    shutil.copy(apiserver.kubeconfig, config)
    inventory = tmp_path / "t1.yaml"
    inventory.write_text("cluster: {name: t1}\nhosts:\n  cp1: {address: 10.0.0.1}\n"
                         "groups:\n  control_plane: {hosts: [cp1]}\n")

    by_name = kboot(tmp_path, "--cluster", "t1", "get", "namespace", "default", "-o", "name")
    assert by_name.returncode == 0, by_name.stderr
    assert by_name.stdout.strip() == "namespace/default"

    by_inventory = kboot(tmp_path, str(inventory), "--", "--request-timeout=20s", "get",
                         "namespaces", "-o", "name")
    assert by_inventory.returncode == 0, by_inventory.stderr
    assert "namespace/default" in by_inventory.stdout.split()

    missing = kboot(tmp_path, "--cluster", "t1", "get", "namespace", "nope")
    assert missing.returncode == 1 and "NotFound" in missing.stderr
