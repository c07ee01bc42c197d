"""A node's cgroup tree: its processes found and its directories removed deepest first."""

from __future__ import annotations

from pathlib import Path

from kboot.lab.machine import cgroup_pids, remove_cgroups


def _tree(root: Path) -> None:
    (root / "system.slice" / "sshd.service").mkdir(parents=True)
    (root / "cgroup.procs").write_text("1\n")
    (root / "system.slice" / "sshd.service" / "cgroup.procs").write_text("42\n43\n")
    (root / "system.slice" / "cgroup.procs").write_text("")


def test_processes_of_nested_cgroups_are_found(tmp_path: Path) -> None:
    _tree(tmp_path / "node")
    assert cgroup_pids([tmp_path / "node", tmp_path / "gone"]) == {1, 42, 43}


def test_empty_cgroups_are_removed_children_first(tmp_path: Path) -> None:
    root = tmp_path / "node"
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "d").mkdir()
    remove_cgroups([root, tmp_path / "gone"])
    assert not root.exists()
