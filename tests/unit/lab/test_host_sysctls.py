"""The host's shared kernel limits that lab nodes need: raised when low, never lowered."""

from __future__ import annotations

from pathlib import Path

from kboot.lab.system import HOST_SYSCTL_MINIMUMS, ensure_host_sysctls, sysctls_to_raise


def _proc(tmp_path: Path, values: dict[str, str]) -> Path:
    for key, value in values.items():
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_text(value)
    return tmp_path


def test_the_kernel_default_of_128_inotify_instances_is_raised(tmp_path: Path) -> None:
    root = _proc(tmp_path, {"fs/inotify/max_user_instances": "128\n",
                            "fs/inotify/max_user_watches": "1048576\n"})
    raised = ensure_host_sysctls(root)
    assert raised == {"fs/inotify/max_user_instances": 8192}
    assert (root / "fs/inotify/max_user_instances").read_text() == "8192\n"
    assert (root / "fs/inotify/max_user_watches").read_text() == "1048576\n"  # higher: kept


def test_limits_already_high_enough_are_not_written(tmp_path: Path) -> None:
    root = _proc(tmp_path, {key: f"{value}\n" for key, value in HOST_SYSCTL_MINIMUMS.items()})
    assert ensure_host_sysctls(root) == {}


def test_unreadable_limits_are_left_alone(tmp_path: Path) -> None:
    assert ensure_host_sysctls(tmp_path) == {}
    assert not (tmp_path / "fs").exists()


def test_only_limits_below_their_minimum_are_raised() -> None:
    assert sysctls_to_raise({"a": 5, "b": 20}, {"a": 10, "b": 10, "c": 1}) == {"a": 10, "c": 1}
