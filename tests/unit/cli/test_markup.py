"""User-derived text printed by the CLI is never read as rich markup: a closing tag in it used
to crash the CLI with a ``MarkupError`` traceback, and an opening tag silently swallowed text."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from kboot.cli.commands.removenode import _summary
from kboot.cli.main import main
from kboot.cli.output import TextRenderer
from kboot.cluster.drain import Drained
from kboot.cluster.removenode import RemoveReport
from kboot.playbook import HostStarted, TaskResult


def test_a_closing_tag_in_a_playbook_error_is_printed_not_a_crash(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    playbook = tmp_path / "site.yaml"
    playbook.write_text('- hosts: all\n  tasks:\n    - meta: "[/oops]"\n')
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text("all:\n  hosts:\n    h1:\n      ansible_connection: local\n")
    assert main(["run", str(playbook), "-i", str(inventory)]) == 2
    err = capsys.readouterr().err
    assert "meta: '[/oops]' is not supported" in err
    assert "Traceback" not in err


def test_an_opening_tag_in_an_error_keeps_its_text(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "[red]x.yaml"
    assert main(["inventory", "check", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"error: {missing}: cannot read the inventory" in err


def _render(events: list[object]) -> str:
    out = io.StringIO()
    renderer = TextRenderer(Console(file=out, width=200, color_system=None), live=False)
    for event in events:
        renderer(event)  # type: ignore[arg-type]
    renderer.close()
    return out.getvalue()


def test_task_lines_keep_bracketed_names_and_messages() -> None:
    text = _render([
        HostStarted(host="[bold]h1", play="p"),
        TaskResult(host="[bold]h1", task="copy [/x]", action="command", status="failed",
                   msg="[red]boom", command="echo [/y]"),
    ])
    assert "[bold]h1 copy [/x] — [red]boom" in text
    assert "command: echo [/y]" in text


def test_remove_node_summary_escapes_names() -> None:
    report = RemoveReport(cluster="[c]", node="w[1]", registered=True,
                          drained=Drained(evicted=("ns/[/p]",), unmanaged=("ns/[u]",)),
                          ingresses=("ns/[i]",))
    out = io.StringIO()
    Console(file=out, width=300, color_system=None).print(
        "\n".join(_summary(report, "inv/[x].yaml")), highlight=False)
    text = out.getvalue()
    for name in ("[c]", "w[1]", "ns/[/p]", "ns/[u]", "ns/[i]", "inv/[x].yaml"):
        assert name in text
