"""The completers behind ``kboot completion``: inventory hosts and groups, host patterns, lab
names and nodes, kinds; and which parser a TAB builds. (The shells themselves are driven in
tests/integration/cli/test_completion_shells.py.)"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import kboot.lab
from kboot.cli import completion
from kboot.cli.main import build_parser
from kboot.lab import Lab, LabSpec
from kboot.lab.state import LabState, save

INVENTORY = """\
hosts:
  cp1: {address: 10.0.0.1}
  w1: {address: 10.0.0.2}
  w2: {address: 10.0.0.3}
groups:
  control_plane: {hosts: [cp1]}
  workers: {hosts: [w1, w2]}
"""


@pytest.fixture
def inventory(tmp_path: Path) -> str:
    path = tmp_path / "inv.yaml"
    path.write_text(INVENTORY)
    return str(path)


def ns(**kwargs: object) -> argparse.Namespace:
    return argparse.Namespace(**kwargs)


def test_host_patterns_offer_hosts_and_groups(inventory: str) -> None:
    assert completion.host_patterns(prefix="", parsed_args=ns(inventory=inventory)) == [
        "cp1", "w1", "w2", "control_plane", "workers"]
    assert completion.host_patterns(prefix="w", parsed_args=ns(inventory=inventory)) == [
        "w1", "w2", "workers"]


def test_host_patterns_complete_the_last_element(inventory: str) -> None:
    got = completion.host_patterns(prefix="workers:!w", parsed_args=ns(inventory=inventory))
    assert got == ["workers:!w1", "workers:!w2", "workers:!workers"]
    assert completion.host_patterns(prefix="cp1,w", parsed_args=ns(inventory=inventory)) == [
        "cp1,w1", "cp1,w2", "cp1,workers"]


def test_inventory_hosts_are_hosts_only(inventory: str) -> None:
    assert completion.inventory_hosts(prefix="", parsed_args=ns(inventory=inventory)) == [
        "cp1", "w1", "w2"]


def test_a_missing_or_broken_inventory_completes_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("hosts: [")
    for path in (str(broken), str(tmp_path / "missing.yaml"), None):
        assert completion.host_patterns(prefix="", parsed_args=ns(inventory=path)) == []


def test_kinds_are_plurals_and_short_names() -> None:
    got = completion.kinds(prefix="", parsed_args=ns())
    assert {"pods", "po", "deployments", "deploy", "nodes", "no", "services", "svc"} <= set(got)
    assert completion.kinds(prefix="dep", parsed_args=ns()) == ["deploy", "deployments"]
    assert completion.delete_targets(prefix="", parsed_args=ns(target=[])) == got
    assert completion.delete_targets(prefix="", parsed_args=ns(target=["pods"])) == []


def _labs(root: Path, monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Labs recorded under ``root``, which the completers then see instead of the machine's."""
    for name in names:
        (root / name).mkdir(parents=True)
        save(root / name / "state.json", LabState(spec=LabSpec(name, 1, 1, "10.77.9.0/24")))
    real_names = kboot.lab.lab_names
    monkeypatch.setattr(kboot.lab, "lab_names", lambda: real_names(root))
    monkeypatch.setattr(kboot.lab, "Lab", lambda name: Lab(name, state_root=root))


def test_lab_names_and_nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _labs(tmp_path, monkeypatch, "demo", "small")
    assert completion.labs(prefix="", parsed_args=ns()) == ["demo", "small"]
    assert completion.lab_nodes(prefix="", parsed_args=ns(name="demo")) == [
        "cp1", "w1", "demo-cp1", "demo-w1"]
    # the default lab does not exist (--name not parsed yet): every lab's nodes by full name
    assert completion.lab_nodes(prefix="", parsed_args=ns(name="kboot")) == [
        "demo-cp1", "demo-w1", "small-cp1", "small-w1"]


@pytest.mark.parametrize(("line", "command"), [
    ("kboot ", None), ("kboot la", None), ("kboot lab", None), ("kboot lab ", "lab"),
    ("kboot get inv.yaml po", "get"), ("kboot run 'site", "run"),
])
def test_a_tab_builds_only_the_typed_commands_parser(line: str, command: str | None) -> None:
    assert completion.typed_command(line) == command


def test_every_command_module_registers_with_completers_in_place() -> None:
    parser = build_parser()
    get = parser._subparsers._group_actions[0].choices["get"]  # type: ignore[union-attr]
    kind = next(a for a in get._actions if a.dest == "kind")
    assert kind.completer is completion.kinds  # type: ignore[attr-defined]


@pytest.mark.parametrize("shell", completion.SHELLS)
def test_shell_scripts_name_kboot(shell: str) -> None:
    script = completion.shell_script(shell)
    assert "kboot" in script and "_ARGCOMPLETE" in script
