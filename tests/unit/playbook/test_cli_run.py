"""``kboot run`` pieces: extra vars, the text and JSON renderers, the failure summary."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from kboot.cli.commands.run import parse_extra_vars
from kboot.cli.output import JsonRenderer, TextRenderer, failure_summary
from kboot.errors import ConfigError
from kboot.playbook import Failure, HostResult, PlayStarted, Recap, RunSummary, TaskResult
from kboot.tasks.base import FileDiff


def test_extra_vars_forms(tmp_path: Path) -> None:
    (tmp_path / "v.yml").write_text("a: 1\nlist: [x]\n")
    assert parse_extra_vars(["k=v other='two words'", f"@{tmp_path}/v.yml", '{"j": true}']) == {
        "k": "v", "other": "two words", "a": 1, "list": ["x"], "j": True}
    with pytest.raises(ConfigError):
        parse_extra_vars(["novalue"])
    with pytest.raises(ConfigError):
        parse_extra_vars([f"@{tmp_path}/missing.yml"])


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=120, force_terminal=False), buffer


def test_text_renderer_shows_changes_diffs_failures_and_recap() -> None:
    console, buffer = _console()
    render = TextRenderer(console, show_diff=True, live=False)
    render(PlayStarted("site", ("h0",)))
    render(TaskResult("h0", "quiet", "file", "ok"))
    render(TaskResult("h0", "config", "copy", "changed",
                      diff=(FileDiff("/etc/x", "a\n", "b\n"),)))
    render(TaskResult("h0", "boom", "shell", "failed", msg="non-zero return code 3",
                      command="exit 3", exit_code=3, stderr="bad things"))
    render(Recap({"h0": HostResult("h0", ok=2, changed=1, failed=1)}, 0.1))
    render.close()
    text = buffer.getvalue()
    assert "PLAY [site]" in text
    assert "quiet" not in text  # ok tasks only with --verbose
    assert "changed: h0 config" in text and "-a\n+b" in text
    assert "failed: h0 boom — non-zero return code 3" in text and "command: exit 3" in text
    assert "bad things" in text and "PLAY RECAP" in text


def test_json_renderer_prints_one_event_per_line() -> None:
    console, buffer = _console()
    render = JsonRenderer(console)
    render(TaskResult("h0", "t", "copy", "changed", diff=(FileDiff("/x", "", "y"),)))
    render(Recap({"h0": HostResult("h0", ok=1)}, 0.5))
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert lines[0]["kind"] == "task_result" and lines[0]["diff"][0]["after"] == "y"
    assert lines[1]["results"]["h0"]["ok"] == 1


def test_failure_summary_names_host_task_command_and_output() -> None:
    summary = RunSummary({"h1": HostResult("h1", failed=1, failures=(
        Failure("h1", "start etcd", "site.yml:12", "systemctl start etcd", 1,
                "non-zero return code 1", "Job failed"),))})
    text = failure_summary(summary)
    assert "FAILED h1: task 'start etcd' (site.yml:12)" in text
    assert "command (exit 1): systemctl start etcd" in text
    assert "Job failed" in text
