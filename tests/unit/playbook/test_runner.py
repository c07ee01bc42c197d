"""The runner over FakeTransport: convergence, no-op re-runs, check and diff, handlers,
when/loop/tags/register, serial, failure policies and unreachable hosts."""

from __future__ import annotations

from pathlib import Path

from kboot.playbook import HostStarted
from tests.unit.playbook.helpers import Harness

SITE = """
- hosts: nodes
  vars:
    d: "{{ root }}/{{ inventory_hostname }}"
    greeting: hello
  tasks:
    - name: base directory
      file: {path: "{{ d }}", state: directory, mode: "0750"}
    - name: config
      copy: {dest: "{{ d }}/app.conf", content: "greeting={{ greeting }}\\n", mode: "0640"}
      notify: reload app
    - name: rendered
      template: {src: app.j2, dest: "{{ d }}/rendered"}
    - name: init once
      command: touch {{ d }}/initialized creates={{ d }}/initialized
    - name: a line
      lineinfile: {path: "{{ d }}/lines", line: "extra=1", create: true}
  handlers:
    - name: reload app
      shell: echo reloaded >> {{ d }}/handler.log
"""


def _site(h: Harness) -> None:
    (h.tmp / "templates").mkdir(exist_ok=True)
    (h.tmp / "templates" / "app.j2").write_text("host={{ inventory_hostname }} "
                                                "os={{ ansible_facts.os_family }}\n")


def test_converges_on_first_run_and_is_all_ok_on_the_second(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    _site(h)
    first = h.run(SITE)
    assert first.ok
    assert {r.changed for r in first.results.values()} == {6}  # 5 tasks + the handler
    d = tmp_path / "h1"
    assert (d / "app.conf").read_text() == "greeting=hello\n"
    assert (d / "lines").read_text() == "extra=1\n"
    assert (d / "rendered").read_text() == "host=h1 os=Debian\n"
    assert oct(d.stat().st_mode & 0o777) == "0o750"
    assert (d / "handler.log").read_text() == "reloaded\n"
    second = h.run(SITE)
    assert second.ok and not second.changed
    assert {r.ok for r in second.results.values()} == {6}  # setup + 5 tasks
    assert (d / "handler.log").read_text() == "reloaded\n"  # not notified again
    # facts for gather_facts and for every task travel together: one exec, nothing to change
    assert [h.execs(host) for host in ("h0", "h1", "h2")] == [1, 1, 1]


def test_check_mode_reports_changes_and_changes_nothing(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    _site(h)
    summary = h.run(SITE, check=True)
    assert summary.ok and summary.changed
    assert not (tmp_path / "h0").exists()
    assert ("base directory", "changed") in h.statuses("h0")
    scripts = [c.stdin or b"" for t in h.transports.values() for c in t.calls]
    assert not any(b"@@KBOOT-STEP" in s for s in scripts)  # no change script was sent


def test_diff_is_reported_for_changed_files(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    _site(h)
    h.run(SITE)
    changed = SITE.replace("greeting: hello", "greeting: bonjour")
    h.run(changed, diff=True, check=True)
    (config,) = [e for e in h.results("h0") if e.task == "config"]
    assert config.status == "changed"
    assert config.diff[0].before == "greeting=hello\n"
    assert config.diff[0].after == "greeting=bonjour\n"
    assert (tmp_path / "h0" / "app.conf").read_text() == "greeting=hello\n"


def test_no_op_run_of_30_tasks_on_10_hosts_takes_at_most_3_execs_per_host(tmp_path: Path) -> None:
    tasks = []
    for i in range(10):
        tasks.append(f"""
    - file: {{path: "{{{{ d }}}}/dir{i}", state: directory}}
    - copy: {{dest: "{{{{ d }}}}/dir{i}/f", content: "file {i} in {{{{ d }}}}"}}
    - command: touch {{{{ d }}}}/dir{i}/done creates={{{{ d }}}}/dir{i}/done""")
    playbook = f"""
- hosts: all
  vars:
    d: "{{{{ root }}}}/shared"
  tasks:
    - file: {{path: "{{{{ d }}}}", state: directory}}{''.join(tasks)}
"""
    h = Harness(tmp_path, 10)
    # the hosts share this machine's files: converging one converges them all (and is cheaper)
    assert h.run(playbook, limit="h0").ok
    summary = h.run(playbook)
    assert summary.ok and not summary.changed
    for host, result in summary.results.items():
        assert result.ok == 32  # setup + 31 tasks
        assert h.execs(host) <= 3, host  # the bound; kboot needs just one
        assert h.execs(host) == 1, host
        assert result.execs == h.execs(host)


def test_handlers_run_once_in_definition_order_at_the_end(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    summary = h.run("""
- hosts: all
  gather_facts: false
  tasks:
    - {name: one, command: "true", notify: [second, first]}
    - {name: two, command: "true", notify: first}
    - {name: three, command: "true", changed_when: false, notify: third}
  handlers:
    - {name: first, debug: {msg: "1"}}
    - {name: third, debug: {msg: "3"}}
    - {name: second, debug: {msg: "2"}}
""")
    assert summary.ok
    handlers = [e.task for e in h.results("h0") if e.handler]
    assert handlers == ["first", "second"]  # definition order; 'third' was not changed


def test_when_loop_register_tags(tmp_path: Path) -> None:
    h = Harness(tmp_path, 2)
    summary = h.run("""
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo "{{ inventory_hostname }}-out"
      register: probe
      changed_when: false
      tags: files
    - name: only h1
      debug: {msg: "{{ probe.stdout }}"}
      when: probe.stdout == 'h1-out'
      tags: files
    - name: items
      file: {path: "{{ root }}/{{ inventory_hostname }}-{{ f }}", state: touch}
      loop: [a, b]
      loop_control: {loop_var: f}
      tags: [files]
    - name: tagged away
      file: {path: "{{ root }}/never", state: touch}
      tags: [other]
    - name: always runs
      debug: {msg: "x"}
      tags: [always]
""", tags=["files"])
    assert summary.ok
    assert (tmp_path / "h0-a").exists() and (tmp_path / "h1-b").exists()
    assert not (tmp_path / "never").exists()
    assert ("only h1", "skipped") in h.statuses("h0")
    assert ("only h1", "ok") in h.statuses("h1")
    assert [e.item for e in h.results("h0") if e.task == "items"] == ["a", "b"]
    assert ("always runs", "ok") in h.statuses("h0")
    assert "tagged away" not in [t for t, _ in h.statuses("h0")]


def test_serial_runs_hosts_in_batches(tmp_path: Path) -> None:
    h = Harness(tmp_path, 3)
    h.run("""
- hosts: all
  gather_facts: false
  serial: 1
  tasks:
    - debug: {msg: hi}
""")
    order = [e.host for e in h.events if isinstance(e, HostStarted)]
    assert order == ["h0", "h1", "h2"]
    kinds = [(type(e).__name__, getattr(e, "host", "")) for e in h.events]
    assert kinds.index(("HostFinished", "h0")) < kinds.index(("HostStarted", "h1"))


def test_unreachable_host_is_reported_while_others_finish(tmp_path: Path) -> None:
    h = Harness(tmp_path, 3, unreachable=("h1",))
    summary = h.run("""
- hosts: all
  tasks:
    - file: {path: "{{ root }}/{{ inventory_hostname }}", state: directory}
""")
    assert not summary.ok
    assert summary.results["h1"].unreachable == 1
    assert summary.results["h0"].changed == 1 and summary.results["h2"].changed == 1
    assert (tmp_path / "h2").is_dir() and not (tmp_path / "h1").exists()
    assert [f.host for f in summary.failures] == ["h1"]


def test_any_errors_fatal_stops_every_host(tmp_path: Path) -> None:
    h = Harness(tmp_path, 2)
    summary = h.run("""
- hosts: all
  gather_facts: false
  serial: 1
  any_errors_fatal: true
  tasks:
    - command: "false"
- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: never}
""")
    assert "any_errors_fatal" in summary.aborted
    assert "h1" not in summary.results  # its batch never started
    assert not [e for e in h.results() if e.task == "debug"]


def test_max_fail_percentage(tmp_path: Path) -> None:
    h = Harness(tmp_path, 4)
    summary = h.run("""
- hosts: all
  gather_facts: false
  max_fail_percentage: 30
  tasks:
    - command: "false"
      when: inventory_hostname in ['h0', 'h1']
- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: second play}
""")
    assert "max_fail_percentage" in summary.aborted
    assert not [e for e in h.results() if e.task == "debug"]


def test_failed_host_leaves_later_plays_others_continue(tmp_path: Path) -> None:
    h = Harness(tmp_path, 2)
    summary = h.run("""
- hosts: all
  gather_facts: false
  tasks:
    - command: "false"
      when: inventory_hostname == 'h0'
- hosts: all
  gather_facts: false
  tasks:
    - {name: later, debug: {msg: second play}}
""")
    assert not summary.ok and not summary.aborted
    assert ("later", "ok") in h.statuses("h1")
    assert "later" not in [t for t, _ in h.statuses("h0")]


def test_ignore_errors_changed_when_failed_when(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    summary = h.run("""
- hosts: all
  gather_facts: false
  tasks:
    - {name: ignored, command: "false", ignore_errors: true}
    - name: grep miss is fine
      shell: "echo abc | grep -c zzz"
      register: g
      failed_when: g.rc not in [0, 1]
      changed_when: false
    - name: output says failed
      shell: echo ERROR
      failed_when: "'ERROR' in stdout"
    - {name: not reached, debug: {msg: x}}
""")
    assert not summary.ok
    assert h.statuses("h0") == [("ignored", "failed"), ("grep miss is fine", "ok"),
                                ("output says failed", "failed")]
    result = summary.results["h0"]
    assert (result.ignored, result.failed) == (1, 1)
    assert result.failures[0].task == "output says failed"
