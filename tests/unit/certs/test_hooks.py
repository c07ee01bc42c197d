"""Inventory hooks: validated with file:line, run in order, the first failure stops the run
naming the hook."""

from __future__ import annotations

from pathlib import Path

import pytest

from kboot.cluster.hooks import HookError, is_upgrade, record_deployed, run_hooks
from kboot.errors import InventoryError
from kboot.inventory import load_inventory

INVENTORY = """\
cluster:
  name: hk
  hooks:
    before_up:
      - echo first >> {log}
      - run: echo "second $KBOOT_EVENT $KBOOT_CLUSTER" >> {log}
        name: announce
    after_up:
      - run: echo after >> {log}
{extra}
hosts:
  cp1: {{address: 127.0.0.1}}
groups:
  control_plane: {{hosts: [cp1]}}
"""


def _inv(tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    log = tmp_path / "hooks.log"
    path = tmp_path / "inv.yaml"
    path.write_text(INVENTORY.format(log=log, extra=extra))
    return path, log


def test_hooks_run_in_order_with_their_environment(tmp_path: Path) -> None:
    path, log = _inv(tmp_path)
    inv = load_inventory(str(path))
    assert run_hooks(inv, "before_up") == 2
    assert run_hooks(inv, "after_up") == 1
    assert run_hooks(inv, "before_backup") == 0
    assert log.read_text().splitlines() == ["first", "second before_up hk", "after"]


def test_a_failing_hook_stops_with_its_name(tmp_path: Path) -> None:
    path, log = _inv(tmp_path, extra="""    before_reset:
      - run: echo boom >&2; exit 7
        name: guard
      - echo never >> {log}
""".format(log=tmp_path / "hooks.log"))
    inv = load_inventory(str(path))
    with pytest.raises(HookError) as err:
        run_hooks(inv, "before_reset")
    text = str(err.value)
    assert "before_reset[0] 'guard'" in text and "exit code 7" in text and "boom" in text
    assert not log.exists()


@pytest.mark.parametrize(("extra", "line", "field", "words"), [
    ("    before_upp: [echo hi]\n", 10, "cluster.hooks.before_upp", "did you mean 'before_up'"),
    ("    before_reset:\n      - {run: echo, timeout: -1}\n", 11,
     "cluster.hooks.before_reset[0].timeout", "seconds > 0"),
    ("    before_reset:\n      - {name: x}\n", 11, "cluster.hooks.before_reset[0]",
     "needs 'run'"),
    ("    before_reset:\n      - {run: echo, become: true}\n", 11,
     "cluster.hooks.before_reset[0].become", "hosts"),
    ("    after_drain:\n      - {run: echo, where: cp1}\n", 11,
     "cluster.hooks.after_drain[0].where", "unknown key"),
])
def test_hook_mistakes_name_file_line_and_field(tmp_path: Path, extra: str, line: int,
                                                 field: str, words: str) -> None:
    path, _ = _inv(tmp_path, extra=extra)
    with pytest.raises(InventoryError) as err:
        load_inventory(str(path))
    text = str(err.value)
    assert f"{path}:{line}" in text and field in text and words in text


def test_cert_settings_checked(tmp_path: Path) -> None:
    path, _ = _inv(tmp_path, extra="  certs: {renew_before_days: -2, leaf_day: 3}\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(str(path))
    text = str(err.value)
    assert "cluster.certs.renew_before_days" in text and ">= 0" in text
    assert "cluster.certs.leaf_day" in text and "leaf_days" in text


def test_upgrade_is_a_different_kboot_than_last_time(tmp_path: Path) -> None:
    assert not is_upgrade(tmp_path, "1.0")  # first up: nothing deployed
    record_deployed(tmp_path, "1.0")
    assert not is_upgrade(tmp_path, "1.0")
    assert is_upgrade(tmp_path, "1.1")
