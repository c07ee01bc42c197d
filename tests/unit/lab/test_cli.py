"""``kboot lab`` argument parsing: every action reaches its handler with its options."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kboot.cli.commands import lab as lab_cmd
from kboot.errors import ConfigError, LabError, UserError
from kboot.lab import Lab, LabSpec, lab_names
from kboot.lab.state import LabState, save


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kboot")
    lab_cmd.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["lab", *argv])


def test_up_defaults() -> None:
    args = parse("up")
    assert (args.name, args.control_planes, args.workers, args.subnet, args.image) == (
        "kboot", 3, 2, None, None)
    assert args.inventory is None and args.func is lab_cmd._up


def test_up_options() -> None:
    args = parse("up", "--name", "x", "--control-planes", "1", "--workers", "0",
                 "--subnet", "10.77.7.0/24", "--inventory", "inv.yaml", "--image", "provisioned")
    assert (args.name, args.control_planes, args.workers, args.subnet, str(args.inventory),
            args.image) == ("x", 1, 0, "10.77.7.0/24", "inv.yaml", "provisioned")


@pytest.mark.parametrize("action", ["stop", "start", "kill"])
def test_fault_actions_take_a_node(action: str) -> None:
    args = parse(action, "cp2", "--name", "t")
    assert (args.lab_command, args.node, args.name, args.func) == (
        action, "cp2", "t", lab_cmd._fault)


def test_partition_from_several_nodes() -> None:
    args = parse("partition", "cp1", "--from", "cp2", "w1")
    assert (args.node, args.peers, args.func) == ("cp1", ["cp2", "w1"], lab_cmd._partition)
    assert parse("partition", "cp1").peers is None


def test_ssh_passes_the_command_through() -> None:
    args = parse("ssh", "w1", "--", "ls", "-l", "/")
    assert (args.node, args.cmd) == ("w1", ["ls", "-l", "/"])  # argparse drops the "--"


@pytest.mark.parametrize(("action", "func"), [
    ("down", lab_cmd._down), ("status", lab_cmd._status), ("heal", lab_cmd._heal)])
def test_simple_actions(action: str, func: object) -> None:
    assert parse(action).func is func


@pytest.mark.parametrize(("argv", "expected"), [
    # the order docs/cli.md shows: --name after the node, before --
    (["w2", "--name", "demo", "--", "ls", "-l"], ("demo", ["ls", "-l"])),
    (["w2", "--name=demo", "--", "hostname"], ("demo", ["hostname"])),
    (["w2", "--name", "demo"], ("demo", [])),
    (["--name", "demo", "w2", "--", "id"], ("demo", ["id"])),
    (["w2", "--", "echo", "--name", "x"], ("kboot", ["echo", "--name", "x"])),  # the command's
    (["w2", "uptime"], ("kboot", ["uptime"])),
    (["w2"], ("kboot", [])),
])
def test_ssh_name_anywhere_and_the_command_after_dashes(
        argv: list[str], expected: tuple[str, list[str]]) -> None:
    args = parse("ssh", *argv)
    assert args.node == "w2" and args.func is lab_cmd._ssh
    assert lab_cmd.ssh_words(args.name, args.cmd) == expected


def test_ssh_name_without_a_value_is_a_user_error() -> None:
    args = parse("ssh", "w2", "--name")
    with pytest.raises(UserError, match="--name expects a lab name"):
        lab_cmd.ssh_words(args.name, args.cmd)


def _lab_state(root: Path, name: str) -> None:
    (root / name).mkdir(parents=True)
    save(root / name / "state.json", LabState(spec=LabSpec(name, 1, 2, "10.77.9.0/24")))


def test_existing_node_resolves_short_and_full_names(tmp_path: Path) -> None:
    _lab_state(tmp_path, "demo")
    lab = Lab("demo", state_root=tmp_path)
    assert lab.existing_node("w2").name == "demo-w2"
    assert lab.existing_node("demo-w2").address == "10.77.9.22"
    assert lab_names(tmp_path) == ["demo"]


def test_existing_node_of_a_missing_lab_names_the_labs_there_are(tmp_path: Path) -> None:
    _lab_state(tmp_path, "demo")
    _lab_state(tmp_path, "other")
    with pytest.raises(LabError, match=r"no lab named 'kboot' \(labs here: demo, other;"):
        Lab("kboot", state_root=tmp_path).existing_node("w2")
    with pytest.raises(ConfigError, match="lab 'demo' has no node 'w3'"):
        Lab("demo", state_root=tmp_path).existing_node("w3")


@pytest.mark.parametrize(("name", "node", "expected"), [
    ("kboot", "demo-w2", "demo"),  # no --name, no lab "kboot": the node's own lab
    ("kboot", "w2", "kboot"),  # a short name says nothing of its lab
    ("small", "demo-w2", "small"),  # an existing lab given by --name wins
    ("kboot", "gone-w2", "kboot"),  # no such lab either: the error will name the labs
])
def test_a_full_node_name_finds_its_lab(name: str, node: str, expected: str) -> None:
    assert lab_cmd.lab_for_node(name, node, ["demo", "small"]) == expected
