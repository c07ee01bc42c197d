"""The Vagrantfile is valid and builds exactly the hosts of inventories/vagrant.yaml.

No VM is started: ``vagrant validate`` loads the Vagrantfile, which prints its computed node list
when ``KBOOT_VAGRANT_NODES=json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[3]


def vagrant_validate(**env: str) -> subprocess.CompletedProcess[str]:
    dotfile = tempfile.mkdtemp(prefix="kboot-vagrant-")  # keep .vagrant/ out of the repo
    full = {**os.environ, "VAGRANT_CWD": str(REPO), "VAGRANT_DOTFILE_PATH": dotfile,
            "KBOOT_VAGRANT_NODES": "json", **env}
    for var in ("KBOOT_CP", "KBOOT_WORKERS", "KBOOT_NET"):
        if var not in env:
            full.pop(var, None)
    try:
        return subprocess.run(["vagrant", "validate", "--ignore-provider"], capture_output=True,
                              text=True, env=full, timeout=120, cwd=REPO)
    finally:
        shutil.rmtree(dotfile, ignore_errors=True)


def vagrant_nodes(**env: str) -> list[dict[str, Any]]:
    proc = vagrant_validate(**env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Vagrantfile validated successfully" in proc.stdout
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("KBOOT_NODES "))
    nodes: list[dict[str, Any]] = json.loads(line.split(" ", 1)[1])
    return nodes


def test_vagrantfile_hosts_equal_the_inventory() -> None:
    inventory = yaml.safe_load((REPO / "inventories" / "vagrant.yaml").read_text())
    nodes = vagrant_nodes()
    assert {n["name"]: n["ip"] for n in nodes} == {
        name: host["address"] for name, host in inventory["hosts"].items()}
    for group in ("control_plane", "workers"):
        assert [n["name"] for n in nodes if n["group"] == group] == \
            inventory["groups"][group]["hosts"]
    assert inventory["groups"]["etcd"] == {"children": ["control_plane"]}


def test_counts_and_network_are_configurable() -> None:
    nodes = vagrant_nodes(KBOOT_CP="1", KBOOT_WORKERS="3", KBOOT_NET="10.9.8")
    assert [(n["name"], n["ip"]) for n in nodes] == [
        ("cp1", "10.9.8.11"), ("w1", "10.9.8.21"), ("w2", "10.9.8.22"), ("w3", "10.9.8.23")]


def test_out_of_range_counts_are_refused() -> None:
    proc = vagrant_validate(KBOOT_CP="10")
    assert proc.returncode != 0
    assert "KBOOT_CP must be 1..9" in proc.stdout + proc.stderr
