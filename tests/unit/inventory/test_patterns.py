"""Host patterns with Ansible semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from kboot.errors import UserError
from kboot.inventory import Inventory, load_inventory, select_hosts

INV = """
hosts: {cp1: {}, cp2: {}, web1: {}, web2: {}, db1: {}}
groups:
  control_plane: {hosts: [cp1, cp2]}
  etcd: {children: [control_plane]}
  web: {hosts: [web1, web2]}
  prod: {hosts: [cp1, web1, db1]}
"""


@pytest.fixture
def inv(tmp_path: Path) -> Inventory:
    (tmp_path / "i.yaml").write_text(INV)
    return load_inventory(tmp_path / "i.yaml")


@pytest.mark.parametrize(("pattern", "expected"), [
    ("all", ["cp1", "cp2", "web1", "web2", "db1"]),
    ("*", ["cp1", "cp2", "web1", "web2", "db1"]),
    ("etcd", ["cp1", "cp2"]),
    ("db1", ["db1"]),
    ("web*", ["web1", "web2"]),
    ("*1", ["cp1", "web1", "db1"]),
    ("cp*", ["cp1", "cp2"]),
    ("web:etcd", ["cp1", "cp2", "web1", "web2"]),
    ("web,db1", ["web1", "web2", "db1"]),
    ("web:&prod", ["web1"]),
    ("all:!prod", ["cp2", "web2"]),
    ("!web", ["cp1", "cp2", "db1"]),
    ("etcd:web:&prod:!cp1", ["web1"]),
    ("!prod:etcd", ["cp2"]),  # order does not matter: unions, then &, then !
    ("~^(cp|db)", ["cp1", "cp2", "db1"]),
    ("nothing", []),
])
def test_select(inv: Inventory, pattern: str, expected: list[str]) -> None:
    assert select_hosts(inv, pattern) == expected


def test_empty_match_is_an_error_when_asked(inv: Inventory) -> None:
    with pytest.raises(UserError, match="'wbe' matches no host; no host or group matches 'wbe'"):
        select_hosts(inv, "wbe", allow_empty=False)
    with pytest.raises(UserError, match="matches no host"):
        select_hosts(inv, "web:&etcd", allow_empty=False)
    assert select_hosts(inv, "web", allow_empty=False) == ["web1", "web2"]
