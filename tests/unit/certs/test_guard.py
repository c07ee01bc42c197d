"""The envelope of cluster-changing commands: lock taken first and always released, before
hooks in event order, after hooks in reverse and only after success."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from kboot.cli import guard
from kboot.cluster.topology import topology_from_inventory
from kboot.inventory import load_inventory

INVENTORY = """\
cluster:
  name: g
  hooks:
    before_up: [echo before_up >> {log}]
    before_upgrade: [echo before_upgrade >> {log}]
    after_upgrade: [echo after_upgrade >> {log}]
    after_up: [echo after_up >> {log}]
hosts:
  cp1: {{address: 127.0.0.1}}
groups:
  control_plane: {{hosts: [cp1]}}
"""


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []

    @contextlib.contextmanager
    def fake_lock(*_args: Any, **kwargs: Any) -> Iterator[None]:
        seen.append(f"lock force={kwargs['force']}")
        try:
            yield
        finally:
            seen.append("unlock")

    monkeypatch.setattr(guard, "cluster_lock", fake_lock)
    return seen


def _run(tmp_path: Path, *, fail: bool) -> list[str]:
    log = tmp_path / "log"
    path = tmp_path / "inv.yaml"
    path.write_text(INVENTORY.format(log=log))
    inv = load_inventory(str(path))
    with contextlib.suppress(RuntimeError), guard.guarded(
            inv, topology_from_inventory(inv), "kboot up", ("up", "upgrade"),
            console=Console(file=io.StringIO()), force_unlock=True):
        with log.open("a") as f:
            f.write("body\n")
        if fail:
            raise RuntimeError("phase failed")
    return log.read_text().splitlines()


def test_order_of_an_upgrade(tmp_path: Path, events: list[str]) -> None:
    assert _run(tmp_path, fail=False) == ["before_up", "before_upgrade", "body",
                                          "after_upgrade", "after_up"]
    assert events == ["lock force=True", "unlock"]


def test_failed_body_skips_after_hooks_and_releases(tmp_path: Path, events: list[str]) -> None:
    assert _run(tmp_path, fail=True) == ["before_up", "before_upgrade", "body"]
    assert events == ["lock force=True", "unlock"]
