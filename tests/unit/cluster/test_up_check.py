"""``kboot up --check``: the shipped playbooks render in check mode (a file rendered from a
command's output needs that command to run in check mode too: issue 21's keepalived failure),
and the exit status tells CI "nothing to do" (0), "changes pending" (2) and "failed" (1) apart."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kboot.cli import main as cli_main
from kboot.cli.commands import up as up_cmd
from kboot.cluster.topology import topology_from_inventory
from kboot.cluster.up import PhaseOutcome, UpReport
from kboot.inventory import load_inventory

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOKS = ROOT / "playbooks"
TEMPLATES = ROOT / "templates"
COMMANDS = ("shell", "command", "ansible.builtin.shell", "ansible.builtin.command")
OUTPUT = re.compile(r"\b([A-Za-z_]\w*)\.(stdout|stdout_lines|stderr|stderr_lines|rc)\b")


def _plays() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(PLAYBOOKS.rglob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for play in doc if isinstance(doc, list) else []:
            if isinstance(play, dict) and ("tasks" in play or "handlers" in play):
                yield path, play


def _tasks(play: dict[str, Any]) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for task in [*(play.get("tasks") or []), *(play.get("handlers") or [])]:
        flat.extend(task.get("block", [])) if "block" in task else flat.append(task)
    return flat


def _rendered_text(task: dict[str, Any]) -> str:
    """What a task renders into a file on the host: a template's source, a copy's content."""
    args = task.get("template") or task.get("ansible.builtin.template")
    if isinstance(args, dict):
        src = str(args.get("src", ""))
        candidates = [TEMPLATES / src] if "{{" not in src else []
        return "".join(c.read_text() for c in candidates if c.is_file())
    copy = task.get("copy") or task.get("ansible.builtin.copy")
    return str(copy.get("content", "")) if isinstance(copy, dict) else ""


def test_files_are_never_rendered_from_output_check_mode_does_not_gather() -> None:
    """Check mode does not run commands (it cannot know they only read), so their registered
    output is empty there; a file rendered from it must come from a probe marked
    ``check_mode: false`` (read-only, so it runs in check mode too)."""
    found, problems = 0, []
    for path, play in _plays():
        tasks = _tasks(play)
        unrun = {t["register"] for t in tasks if t.get("register")
                 and any(k in t for k in COMMANDS) and t.get("check_mode") is not False}
        for task in tasks:
            for name, _field in OUTPUT.findall(_rendered_text(task)):
                found += 1
                if name in unrun:
                    problems.append(f"{path.relative_to(ROOT)}: {task.get('name')!r} renders "
                                    f"{name}.stdout, a command check mode does not run")
    assert found, "no rendered file reads a registered output: the check is looking wrong"
    assert problems == []


def test_the_keepalived_probe_runs_in_check_mode_and_only_reads() -> None:
    play = next(p for path, p in _plays() if path.name == "loadbalancer.yaml"
            and p["name"] == "API virtual address")
    probe = next(t for t in _tasks(play) if t.get("register") == "vip_link")
    assert probe["check_mode"] is False and probe["changed_when"] is False
    assert probe["shell"].startswith("ip -o -4 addr show")


INVENTORY = """\
cluster: {name: chk}
hosts:
  cp1: {address: 10.0.0.11}
groups:
  control_plane: {hosts: [cp1]}
"""


def _fake_up(changed: int, monkeypatch: pytest.MonkeyPatch, inv: Path) -> list[bool]:
    checks: list[bool] = []
    topo = topology_from_inventory(load_inventory(inv))

    def fake_up(inventory: Any, *, runner: up_cmd.PhaseRunner, **_kw: Any) -> UpReport:
        checks.append(runner.check)
        report = UpReport(topology=topo, admin_kubeconfig=Path("/x/admin.kubeconfig"))
        report.phases.append(("bundle", PhaseOutcome(ok=True, changed=changed), 0.1))
        return report

    monkeypatch.setattr(up_cmd, "up", fake_up)
    # no hosts to hold the run lock; the state (deployed version) in the test's directory
    monkeypatch.setattr(up_cmd, "guarded", lambda *_a, **_kw: contextlib.nullcontext())
    monkeypatch.setenv("KBOOT_HOME", str(inv.parent / "home"))
    return checks


@pytest.mark.parametrize(("check", "changed", "status"), [
    (True, 0, 0), (True, 3, 2), (False, 0, 0), (False, 3, 0)])
def test_check_exits_2_only_when_changes_are_pending(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        check: bool, changed: int, status: int) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(INVENTORY)
    checks = _fake_up(changed, monkeypatch, inv)
    argv = ["up", str(inv), *(["--check"] if check else [])]
    assert cli_main.main(argv) == status
    assert checks == [check]
    out = capsys.readouterr().out
    assert (f"{changed} task(s) would change" in out) is (check and changed > 0)


def test_a_bad_inventory_exits_1_under_check_not_the_changes_pending_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(INVENTORY.replace("control_plane: {hosts: [cp1]}", "workers: {hosts: [cp1]}"))
    assert cli_main.main(["up", str(inv), "--check"]) == 1
    assert cli_main.main(["up", str(inv)]) == 2  # without --check: a user mistake, as always
    assert "control_plane" in capsys.readouterr().err
