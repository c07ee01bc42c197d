"""``kboot inventory show|check`` through the command module's own parser."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml

from kboot.cli.commands import inventory as command
from kboot.errors import ConfigError, InventoryError


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="kboot")
    command.register(parser.add_subparsers())
    args = parser.parse_args(["inventory", *argv])
    rc: int = args.func(args)
    return rc


INV = """
connection: {user: deploy, become_password_env: SUDO_PW}
hosts:
  a: {address: 10.0.0.1, vars: {x: 1}}
  b: {address: 10.0.0.2}
groups:
  web: {hosts: [a], vars: {x: 0, y: 2}}
"""


def test_show_json_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "i.yaml").write_text(INV)
    assert run("show", str(tmp_path / "i.yaml"), "--host", "a", "-o", "json") == 0
    shown = json.loads(capsys.readouterr().out)
    a = shown["hosts"]["a"]
    assert a["vars"] == {"x": 1, "y": 2}
    assert a["groups"] == ["web"]
    assert a["connection"]["become_password_env"] == "SUDO_PW"
    assert list(shown["hosts"]) == ["a"]


def test_show_yaml_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "i.yaml").write_text(INV)
    assert run("show", str(tmp_path / "i.yaml")) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["groups"]["web"]["members"] == ["a"]
    assert set(shown["hosts"]) == {"a", "b"}


def test_show_unknown_host(tmp_path: Path) -> None:
    (tmp_path / "i.yaml").write_text(INV)
    with pytest.raises(ConfigError, match="no host 'zz'"):
        run("show", str(tmp_path / "i.yaml"), "--host", "zz")


def test_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "i.yaml").write_text(INV)
    assert run("check", str(tmp_path / "i.yaml"), "--require", "web") == 0
    assert "ok (2 hosts, 1 groups)" in capsys.readouterr().out
    with pytest.raises(InventoryError, match="required group 'etcd' is missing"):
        run("check", str(tmp_path / "i.yaml"), "--require", "etcd")


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run("show", "--help")
    assert "kboot inventory show" in capsys.readouterr().out
