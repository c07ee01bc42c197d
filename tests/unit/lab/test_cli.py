"""``kboot lab`` argument parsing: every action reaches its handler with its options."""

from __future__ import annotations

import argparse

import pytest

from kboot.cli.commands import lab as lab_cmd


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
