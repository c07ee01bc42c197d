"""What get/exec/logs print: kubectl-like tables, -o renderings, per-host blocks, log lines."""

from __future__ import annotations

import argparse
import json

import pytest
import yaml

from kboot.cli.commands.exec import render_host, split_args, summary
from kboot.cli.commands.get import as_table, format_table, render_objects, table_lines
from kboot.cli.commands.logs import format_line, since_seconds
from kboot.cluster.exec import HostOutput
from kboot.cluster.logs import LogLine
from kboot.cluster.manifests import resolve_kind
from kboot.errors import UserError

TABLE = {
    "columnDefinitions": [{"name": "Name", "priority": 0}, {"name": "Ready", "priority": 0},
                          {"name": "IP", "priority": 1}],
    "rows": [
        {"cells": ["web-1", "1/1", "10.0.0.1"],
         "object": {"metadata": {"name": "web-1", "namespace": "prod"}}},
        {"cells": ["a-much-longer-name", "0/1", None],
         "object": {"metadata": {"name": "a-much-longer-name", "namespace": "dev"}}},
    ],
}


def test_format_table_aligns_columns() -> None:
    text = format_table(["Name", "Age"], [["a", "1d"], ["long-name", "5m"]])
    assert text.splitlines() == ["NAME        AGE", "a           1d", "long-name   5m"]


def test_table_lines_hides_wide_columns_unless_asked() -> None:
    narrow = table_lines(TABLE, wide=False, namespace_column=False).splitlines()
    assert narrow[0].split() == ["NAME", "READY"]
    wide = table_lines(TABLE, wide=True, namespace_column=True).splitlines()
    assert wide[0].split() == ["NAMESPACE", "NAME", "READY", "IP"]
    assert wide[1].split() == ["prod", "web-1", "1/1", "10.0.0.1"]
    assert wide[2].split() == ["dev", "a-much-longer-name", "0/1", "<none>"]


def _pods() -> list[dict[str, object]]:
    return [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]


@pytest.mark.parametrize(("output", "check"), [
    ("name", lambda s: s == "pod/a\npod/b\n"),
    ("json", lambda s: [i["kind"] for i in json.loads(s)["items"]] == ["Pod", "Pod"]),
    ("yaml", lambda s: yaml.safe_load(s)["kind"] == "List"),
    ("jsonpath={.items[*].metadata.name}", lambda s: s == "a b"),
])
def test_render_objects(output: str, check: object) -> None:
    assert callable(check) and check(render_objects(resolve_kind("pods"), _pods(), output,
                                                    single=False))


def test_render_single_object_and_group_prefix() -> None:
    deploy = resolve_kind("deploy")
    one = json.loads(render_objects(deploy, [{"metadata": {"name": "w"}}], "json", single=True))
    assert one["kind"] == "Deployment" and one["apiVersion"] == "apps/v1"
    assert render_objects(deploy, [{"metadata": {"name": "w"}}], "name",
                          single=True) == "deployment.apps/w\n"
    with pytest.raises(UserError):
        render_objects(deploy, [], "table", single=False)


def _ns(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {
            "inventory": "inv.yaml", "container": None, "namespace": None, "stdin": False,
            "tty": False, "it": False, "hosts": None, "become": False, "forks": None,
            "kubeconfig": None, "rest": []}
    return argparse.Namespace(**{**base, **kw})


@pytest.mark.parametrize(("rest", "pod", "command", "flags"), [
    (["web", "--", "sh", "-c", "exit 3"], "web", ["sh", "-c", "exit 3"], {}),
    (["web", "-i", "-n", "hello", "--", "cat"], "web", ["cat"],
     {"stdin": True, "namespace": "hello"}),
    (["-it", "web", "--", "sh"], "web", ["sh"], {"stdin": True, "tty": True}),
    (["--hosts", "all", "--become", "--", "hostname"], None, ["hostname"],
     {"hosts": "all", "become": True}),
    (["--", "hostname"], None, ["hostname"], {"hosts": "workers"}),
])
def test_split_args(rest: list[str], pod: str | None, command: list[str],
                    flags: dict[str, object]) -> None:
    preset = {"hosts": "workers"} if rest[0] == "--" else {}
    merged, got_pod, got_command = split_args(_ns(rest=rest, **preset))
    assert (got_pod, got_command) == (pod, command)
    for key, value in flags.items():
        assert getattr(merged, key) == value


def test_split_args_needs_a_pod_or_hosts() -> None:
    with pytest.raises(UserError):
        split_args(_ns(rest=["--", "ls"]))


def test_host_blocks_and_summary() -> None:
    outs = [HostOutput("cp1", 0, "cp1\n", "", "ok"),
            HostOutput("w1", 2, "", "boom\n", "failed"),
            HostOutput("w2", None, "", "", "unreachable", "connection refused")]
    assert render_host(outs[0]) == "── cp1 (exit 0) ──\ncp1\n"
    assert "boom" in render_host(outs[1]) and "(exit 2)" in render_host(outs[1])
    assert "UNREACHABLE" in render_host(outs[2]) and "connection refused" in render_host(outs[2])
    assert summary(outs) == "3 host(s): 1 ok, 1 failed, 1 unreachable"


def test_log_line_prefix_and_since() -> None:
    assert format_line(LogLine(1, "cp1", "hello"), 5) == "cp1   | hello\n"
    assert since_seconds("10m") == 600 and since_seconds(None) is None
    with pytest.raises(UserError):
        since_seconds("ten minutes")


def test_plain_answers_become_name_tables() -> None:
    listed = as_table({"kind": "PodList", "items": [{"metadata": {"name": "a", "namespace": "x"}}]})
    assert table_lines(listed, wide=False, namespace_column=True).split() == [
        "NAMESPACE", "NAME", "x", "a"]
    assert as_table(TABLE) is TABLE
    assert as_table({"kind": "Pod", "metadata": {"name": "p"}})["rows"][0]["cells"] == ["p"]
