"""A lab's whole life on its own: up, converge, down (twice), and down after a crash."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kboot.errors import LabError
from kboot.lab import Lab
from kboot.lab import machine as lab_machine
from kboot.lab.cleanup import NSPAWN_LOCKS, leftover_netns, leftover_veths
from kboot.lab.network import link_exists
from kboot.lab.rootfs import mounted_paths
from tests.fixtures.lab import TEST_LAB_OCTET, TEST_LAB_PREFIX

pytestmark = pytest.mark.lab

NAME = f"{TEST_LAB_PREFIX}life"  # apart from other sessions' labs, like the shared ones


@pytest.fixture
def life(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(NAME, control_planes=1, workers=1, subnet=f"10.{TEST_LAB_OCTET}.90.0/24",
              inventory_path=tmp_path / "inv.yaml")
    lab.down()  # leftovers of a crashed earlier run
    try:
        yield lab
    finally:
        lab.down()


def traces(lab: Lab) -> dict[str, object]:
    """Everything of the lab visible on this machine; all empty when it is gone."""
    rules = "".join(subprocess.run([tool, "-S", "FORWARD"], capture_output=True, text=True,
                                   check=True).stdout for tool in ("iptables", "ip6tables"))
    mounts = [p for p in mounted_paths(Path("/proc/self/mountinfo").read_text())
              if p.startswith(str(lab.state_dir))]
    cgroups = [d for n in lab.desired.nodes for d in lab_machine.node_cgroup_dirs(n.name)
               if d.exists()]
    return {
        "netns": leftover_netns(NAME),
        "veths": leftover_veths(NAME),
        "bridge": link_exists(lab.desired.bridge),
        "processes": lab_machine.machine_processes(f"{NAME}-"),
        "mounts": mounts,
        "cgroups": cgroups,
        "rules": [r for r in rules.splitlines() if f"kboot-lab:{NAME}" in r],
        "state": lab.state_dir.exists(),
    }


GONE = {"netns": [], "veths": [], "bridge": False, "processes": [], "mounts": [], "cgroups": [],
        "rules": [], "state": False}


def nspawn_locks() -> set[Path]:
    return set(NSPAWN_LOCKS.glob("inode-*"))


def test_up_converges_and_down_leaves_nothing(life: Lab, tmp_path: Path) -> None:
    locks = nspawn_locks()
    life.up()
    present = traces(life)
    assert len(present["netns"]) == 2 and len(present["processes"]) == 2  # type: ignore[arg-type]
    assert present["bridge"] and present["mounts"] and len(present["rules"]) == 6  # type: ignore[arg-type]
    pids = [s.pid for s in life.status()]
    life.stop("w1")
    with pytest.raises(LabError, match=r"exists on 10\.77\.90\.0/24"):
        Lab(NAME, subnet=f"10.{TEST_LAB_OCTET}.91.0/24").up()
    Lab(NAME, control_planes=2, workers=1).up()  # converge: keeps its subnet, adds cp2
    after = life.status()
    assert [s.name for s in after] == [f"{NAME}-cp1", f"{NAME}-cp2", f"{NAME}-w1"]
    assert all(s.state == "running" for s in after)
    assert after[0].pid == pids[0]  # the running node was left alone
    assert (tmp_path / "inv.yaml").exists()
    life.down()
    assert traces(life) == GONE
    assert not (tmp_path / "inv.yaml").exists()
    assert nspawn_locks() <= locks
    life.down()  # twice is fine
    assert traces(life) == GONE


def test_down_cleans_up_after_a_crashed_run(life: Lab) -> None:
    life.up()
    (life.state_dir / "state.json").unlink()  # as if `lab up` had died before saving anything
    Lab(NAME).down()
    assert traces(life) == GONE
