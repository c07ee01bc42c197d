"""Runner features beyond the basics: fetch, includes, pre/post tasks and flush_handlers,
listen, no_log, check_mode per task, omit."""

from __future__ import annotations

from pathlib import Path

from tests.unit.playbook.helpers import Harness


def test_fetch_copies_host_files_to_the_workstation(tmp_path: Path) -> None:
    h = Harness(tmp_path, 2)
    for host in ("h0", "h1"):
        (tmp_path / f"{host}.conf").write_text(f"conf of {host}")
    summary = h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - fetch: {{src: "{tmp_path}/{{{{ inventory_hostname }}}}.conf", dest: "{tmp_path}/got"}}
""")
    assert summary.ok and summary.results["h0"].changed == 1
    assert (tmp_path / "got" / "h1" / str(tmp_path).lstrip("/") / "h1.conf").read_text() \
        == "conf of h1"
    again = h.run((tmp_path / "pb.yml").read_text())
    assert not again.changed  # same checksum locally: nothing to fetch


def test_includes_pre_post_tasks_and_flush_handlers(tmp_path: Path) -> None:
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "inc.yml").write_text(
        "- {name: included, command: 'true', notify: h}\n"
        "- {name: skipped by include when, debug: {msg: x}, when: false}\n")
    h = Harness(tmp_path, 1)
    summary = h.run("""
- hosts: all
  gather_facts: false
  pre_tasks:
    - {name: pre, command: "true", notify: h}
  tasks:
    - import_tasks: tasks/inc.yml
      when: true
    - meta: flush_handlers
    - {name: main after flush, debug: {msg: x}}
  post_tasks:
    - {name: post, debug: {msg: x}}
  handlers:
    - {name: handler, debug: {msg: ran}, listen: h}
""")
    assert summary.ok
    order = [(e.task, e.handler) for e in h.results("h0")]
    assert order == [("pre", False), ("handler", True), ("included", False),
                     ("skipped by include when", False), ("handler", True),
                     ("main after flush", False), ("post", False)]


def test_no_log_hides_output_and_check_mode_false_runs_in_check(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - {{name: secret, shell: "echo s3cret; exit 1", no_log: true, ignore_errors: true,
       check_mode: false}}
    - name: probe
      shell: "echo probed > {tmp_path}/probe"
      check_mode: false
    - {{name: would change, copy: {{dest: "{tmp_path}/never", content: x}}}}
""", check=True)
    secret = h.results("h0")[0]
    assert "s3cret" not in repr(secret) and secret.status == "failed" and secret.ignored
    assert (tmp_path / "probe").read_text() == "probed\n"
    assert not (tmp_path / "never").exists()


def test_omit_drops_an_argument(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    summary = h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - copy:
        dest: "{tmp_path}/f"
        content: x
        mode: "{{{{ wanted_mode | default(omit) }}}}"
""")
    assert summary.ok and oct((tmp_path / "f").stat().st_mode & 0o777) == "0o644"


def test_no_log_failures_do_not_leak_into_the_summary(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    summary = h.run("""
- hosts: all
  gather_facts: false
  tasks:
    - {name: secret, shell: "echo pw=s3cret >&2; exit 1", no_log: true}
""")
    (failure,) = summary.failures
    assert failure.task == "secret" and failure.exit_code == 1
    assert "s3cret" not in repr(failure)


def test_validate_and_backup_guard_a_file_write(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    target = tmp_path / "sudoers"
    target.write_text("ok old\n")
    summary = h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - {{name: good, copy: {{dest: "{target}", content: "ok new\\n", backup: true,
                             validate: "grep -q '^ok' %s"}}}}
    - {{name: bad, copy: {{dest: "{target}", content: "broken\\n", validate: "grep -q '^ok' %s"}}}}
""")
    assert target.read_text() == "ok new\n"  # the invalid content never replaced it
    backups = list(tmp_path.glob("sudoers.*~"))
    assert len(backups) == 1 and backups[0].read_text() == "ok old\n"
    assert summary.failures[0].task == "bad"
    assert not list(tmp_path.glob(".kboot-tmp.*"))  # the rejected temp file was removed


def test_block_rescue_always(tmp_path: Path) -> None:
    h = Harness(tmp_path, 2)
    summary = h.run("""
- hosts: all
  gather_facts: false
  tasks:
    - name: guarded
      when: inventory_hostname == 'h0'
      tags: [b]
      block:
        - {name: inner ok, command: "true"}
        - {name: inner fails, command: "false"}
        - {name: never, debug: {msg: x}}
      rescue:
        - {name: rescuing, debug: {msg: "{{ ansible_failed_task.name }}"}}
      always:
        - {name: cleanup, debug: {msg: done}}
    - name: plain block
      block:
        - {name: flattened, debug: {msg: y}}
    - {name: after, debug: {msg: z}}
""")
    assert summary.ok  # the failure was rescued
    assert h.statuses("h0") == [("inner ok", "changed"), ("inner fails", "failed"),
                                ("rescuing", "ok"), ("cleanup", "ok"), ("flattened", "ok"),
                                ("after", "ok")]
    assert [e.msg for e in h.results("h0") if e.task == "rescuing"] == ["inner fails"]
    assert summary.results["h0"].rescued == 1 and summary.results["h0"].failed == 0
    assert ("inner ok", "skipped") in h.statuses("h1")  # the block's when reached its tasks


def test_always_runs_and_the_failure_stands_without_rescue(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    summary = h.run("""
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - {name: boom, command: "false"}
      always:
        - {name: cleanup, debug: {msg: done}}
    - {name: after, debug: {msg: z}}
""")
    assert not summary.ok
    assert h.statuses("h0") == [("boom", "failed"), ("cleanup", "ok")]
    assert summary.failures[0].task == "boom"


def test_block_keywords_reach_its_tasks(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - environment: {{GREETING: hi}}
      ignore_errors: true
      block:
        - {{name: env, shell: 'echo "$GREETING" > {tmp_path}/env'}}
        - {{name: tolerated, command: "false"}}
    - {{name: after, debug: {{msg: z}}}}
""")
    assert (tmp_path / "env").read_text() == "hi\n"
    assert ("after", "ok") in h.statuses("h0")
