"""The runner against real sshd hosts (network namespaces from tests/fixtures/sshd.py):
converge then no-op, check mode, an unreachable host, and ``kboot run`` end to end."""

from __future__ import annotations

import argparse
import socket
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from kboot.cli.commands import run as run_command
from kboot.inventory import load_inventory
from kboot.playbook import Event, RunSummary, TaskResult, run_playbook
from tests.fixtures.sshd import SshdHosts

pytestmark = pytest.mark.integration

SITE = """
- hosts: all_hosts
  vars:
    d: "{{ root }}/{{ inventory_hostname }}"
    port: 8080
  tasks:
    - {name: directory, file: {path: "{{ d }}/etc", state: directory, mode: "0755"}}
    - name: config
      copy: {dest: "{{ d }}/etc/app.conf", content: "port={{ port }}\\n", mode: "0600"}
      notify: note restart
    - name: unit file
      template: {src: app.service.j2, dest: "{{ d }}/etc/app.service"}
    - name: one-time init
      command: touch {{ d }}/initialized creates={{ d }}/initialized
    - name: a line
      lineinfile: {path: "{{ d }}/etc/hosts", line: "10.0.0.5 registry", create: true}
    - name: read back
      command: cat {{ d }}/etc/app.conf
      register: conf
      changed_when: false
    - assert: {that: ["conf.stdout == 'port=' ~ port"]}
  handlers:
    - {name: note restart, shell: "echo restarted >> {{ d }}/restarts"}
"""
UNIT = """[Unit]
Description=app on {{ inventory_hostname }}

[Service]
ExecStart=/usr/bin/app --port {{ port }} --facts {{ ansible_facts.architecture }}
"""


@pytest.fixture
def project(tmp_path: Path, sshd_hosts: SshdHosts) -> Path:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "app.service.j2").write_text(UNIT)
    (tmp_path / "site.yml").write_text(SITE)
    inventory = sshd_hosts.write_inventory(tmp_path / "inventory.yaml")
    doc = yaml.safe_load(inventory.read_text())
    doc["vars"] = {"root": str(tmp_path / "out")}
    inventory.write_text(yaml.safe_dump(doc))
    return tmp_path


def _run(project: Path, **kwargs: Any) -> tuple[RunSummary, list[TaskResult]]:
    inventory = load_inventory(project / "inventory.yaml")
    events: list[Event] = []
    summary = run_playbook(project / "site.yml", inventory, on_event=events.append, **kwargs)
    return summary, [e for e in events if isinstance(e, TaskResult)]


def test_converges_then_reports_all_ok(project: Path) -> None:
    first, _ = _run(project)
    assert first.ok, first.failures
    for host in ("h0", "h1", "h2"):
        result = first.results[host]
        assert result.changed == 6, host  # 5 changing tasks + the handler
        d = project / "out" / host
        assert (d / "etc" / "app.conf").read_text() == "port=8080\n"
        assert f"app on {host}" in (d / "etc" / "app.service").read_text()
        assert (d / "restarts").read_text() == "restarted\n"
    second, events = _run(project)
    assert second.ok and not second.changed
    assert {e.status for e in events} == {"ok"}
    for result in second.results.values():
        assert result.execs <= 3  # setup facts, task facts, the register split


def test_check_mode_reports_changes_and_changes_nothing(project: Path) -> None:
    assert _run(project)[0].ok
    before = (project / "out" / "h0" / "etc" / "app.conf").read_text()
    summary, events = _run(project, check=True, diff=True, extra_vars={"port": 9090})
    assert summary.changed
    config = [e for e in events if e.task == "config" and e.host == "h0"]
    assert config[0].status == "changed"
    assert config[0].diff[0].after == "port=9090\n"
    assert (project / "out" / "h0" / "etc" / "app.conf").read_text() == before


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_host_is_reported_while_others_finish(project: Path) -> None:
    path = project / "inventory.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["hosts"]["gone"] = {"address": "127.0.0.1", "port": _free_port()}
    doc["groups"]["all_hosts"]["hosts"].append("gone")
    path.write_text(yaml.safe_dump(doc))
    summary, events = _run(project)
    assert not summary.ok
    assert summary.results["gone"].unreachable == 1
    assert summary.results["h2"].succeeded
    assert (project / "out" / "h2" / "etc" / "app.conf").exists()
    assert [e.status for e in events if e.host == "gone"] == ["unreachable"]


def test_kboot_run_cli_end_to_end(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    run_command.register(parser.add_subparsers())
    (project / "fail.yml").write_text(textwrap.dedent("""
        - hosts: all_hosts
          gather_facts: false
          tasks:
            - name: breaks on h1
              shell: "echo about to fail >&2; exit 7"
              when: inventory_hostname == 'h1'
        """))
    inv = str(project / "inventory.yaml")
    args = parser.parse_args(["run", str(project / "site.yml"), "-i", inv, "--diff"])
    assert args.func(args) == 0
    assert "PLAY RECAP" in capsys.readouterr().out
    args = parser.parse_args(["run", str(project / "fail.yml"), "-i", inv, "-o", "json"])
    assert args.func(args) == 1
    captured = capsys.readouterr()
    statuses = [yaml.safe_load(line) for line in captured.out.splitlines()]
    assert {"host": "h1", "status": "failed"}.items() <= next(
        s for s in statuses if s.get("status") == "failed").items()
    assert "FAILED h1: task 'breaks on h1'" in captured.err
    assert "command (exit 7): echo about to fail >&2; exit 7" in captured.err
    assert "about to fail" in captured.err


def test_become_with_a_sudo_password_for_a_non_root_user(
        tmp_path: Path, sshd_hosts: SshdHosts, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBOOT_TEST_BECOME_PASSWORD", sshd_hosts.deploy_password)
    inventory = load_inventory(sshd_hosts.write_inventory(tmp_path / "inv.yaml",
                                                          user=sshd_hosts.deploy_user))
    target = tmp_path / "root-owned"
    tmp_path.chmod(0o755)
    (tmp_path / "site.yml").write_text(textwrap.dedent(f"""
        - hosts: h1
          gather_facts: false
          tasks:
            - {{name: as deploy, command: id -un, register: plain, changed_when: false}}
            - name: as root
              become: true
              copy: {{dest: "{target}", content: secret, mode: "0600", owner: root}}
            - assert: {{that: ["plain.stdout == '{sshd_hosts.deploy_user}'"]}}
        """))
    summary = run_playbook(tmp_path / "site.yml", inventory)
    assert summary.ok, summary.failures
    assert target.read_text() == "secret" and target.stat().st_uid == 0
    assert oct(target.stat().st_mode & 0o777) == "0o600"
