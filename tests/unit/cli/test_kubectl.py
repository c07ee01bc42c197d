"""``kboot kubectl``: which cluster (inventory or ``--cluster``), kubectl's arguments untouched,
the admin kubeconfig handed over as ``KUBECONFIG``, and clear errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kboot.cli.commands import kubectl as cmd
from kboot.cli.main import build_parser
from kboot.errors import UserError

INVENTORY = """\
cluster: {name: prod}
hosts:
  cp1: {address: 10.0.0.1}
groups:
  control_plane: {hosts: [cp1]}
"""


def parse(*argv: str) -> argparse.Namespace:
    return build_parser("kubectl").parse_args(["kubectl", *argv])


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A KBOOT_HOME with cluster ``prod``'s admin kubeconfig, and its inventory."""
    monkeypatch.setenv("KBOOT_HOME", str(tmp_path / "home"))
    config = tmp_path / "home" / "clusters" / "prod" / "kubeconfigs" / "admin.kubeconfig"
    config.parent.mkdir(parents=True)
    config.write_text("apiVersion: v1\nkind: Config\n")
    (tmp_path / "prod.yaml").write_text(INVENTORY)
    return tmp_path


@pytest.mark.parametrize(("argv", "words"), [
    (["INV", "get", "pods", "-n", "x", "-o", "wide"], ["get", "pods", "-n", "x", "-o", "wide"]),
    (["INV", "--", "-n", "x", "get", "pods"], ["-n", "x", "get", "pods"]),
    (["INV", "-n", "x", "get", "pods"], ["-n", "x", "get", "pods"]),
    (["INV", "-h"], ["-h"]),  # kubectl's help, not kboot's
    (["INV"], []),
])
def test_inventory_first_then_kubectls_arguments(home: Path, argv: list[str],
                                                 words: list[str]) -> None:
    inventory = str(home / "prod.yaml")
    args = parse(*[inventory if w == "INV" else w for w in argv])
    config, got = cmd.kubectl_call(args)
    assert config == home / "home/clusters/prod/kubeconfigs/admin.kubeconfig"
    assert got == words


@pytest.mark.parametrize(("argv", "words"), [
    (["--cluster", "prod", "get", "nodes"], ["get", "nodes"]),
    (["--cluster=prod", "--", "-A", "get", "pods"], ["-A", "get", "pods"]),
])
def test_cluster_by_name(home: Path, argv: list[str], words: list[str]) -> None:
    config, got = cmd.kubectl_call(parse(*argv))
    assert config.parts[-4:] == ("clusters", "prod", "kubeconfigs", "admin.kubeconfig")
    assert got == words


def test_an_unknown_cluster_names_the_known_ones(home: Path) -> None:
    with pytest.raises(UserError, match=r"--cluster dev: no admin kubeconfig .*clusters with "
                                        r"one: prod"):
        cmd.kubectl_call(parse("--cluster", "dev", "get", "nodes"))


def test_no_inventory_and_no_cluster_is_a_user_error(home: Path) -> None:
    with pytest.raises(UserError, match="expected INVENTORY"):
        cmd.kubectl_call(parse())


def test_exec_sets_kubeconfig_and_finds_kubectl(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "kubectl"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    path, argv, env = cmd.kubectl_exec(tmp_path / "admin.kubeconfig", ["get", "ns"],
                                       {"PATH": str(fake.parent), "KUBECONFIG": "/other"})
    assert (path, argv) == (str(fake), ["kubectl", "get", "ns"])
    assert env == {"PATH": str(fake.parent), "KUBECONFIG": str(tmp_path / "admin.kubeconfig")}
    with pytest.raises(UserError, match="kubectl is not on PATH"):
        cmd.kubectl_exec(tmp_path / "admin.kubeconfig", [], {"PATH": str(tmp_path)})
