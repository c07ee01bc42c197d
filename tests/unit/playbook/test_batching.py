"""Correctness under batching: many tasks share one exec, yet each task's outcome is exact."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kboot.facts.files import ABSENT_FILE
from kboot.playbook.script import Step, build_script, parse_outcomes
from kboot.tasks.base import Command
from kboot.tasks.files import Attrs, write_file
from kboot.transport.fake import FakeTransport
from tests.unit.playbook.helpers import Harness


def test_failing_command_in_a_batch_reports_the_right_task_and_stops_the_host(
        tmp_path: Path) -> None:
    h = Harness(tmp_path, 2)
    for host in ("h0", "h1"):
        (tmp_path / f"{host}-kept").write_text("k")
    summary = h.run("""
- hosts: all
  gather_facts: false
  tasks:
    - {name: first, copy: {dest: "{{ root }}/{{ inventory_hostname }}-a", content: a}}
    - {name: same again, copy: {dest: "{{ root }}/{{ inventory_hostname }}-kept", content: k}}
    - name: breaks on h0
      shell: "echo partial; echo boom >&2; exit 3"
      when: inventory_hostname == 'h0'
    - {name: after, copy: {dest: "{{ root }}/{{ inventory_hostname }}-b", content: b}}
""")
    assert h.execs("h0") == 2  # one fact exec, one change exec for the whole batch
    assert h.statuses("h0") == [("first", "changed"), ("same again", "ok"),
                                ("breaks on h0", "failed")]
    assert not (tmp_path / "h0-b").exists()  # later tasks did not run on that host
    assert (tmp_path / "h1-b").read_text() == "b"  # the other host finished
    (failure,) = summary.failures
    assert (failure.host, failure.task, failure.exit_code) == ("h0", "breaks on h0", 3)
    assert failure.command == "echo partial; echo boom >&2; exit 3"
    assert failure.output == "boom"
    assert failure.location.endswith("pb.yml:7")  # where the task starts
    (event,) = [e for e in h.results("h0") if e.status == "failed"]
    assert (event.stdout, event.stderr) == ("partial", "boom")


def test_changed_is_exact_per_task_within_one_batch(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    (tmp_path / "h0-kept").write_text("same")
    h.run("""
- hosts: all
  gather_facts: false
  tasks:
    - {name: new, copy: {dest: "{{ root }}/h0-new", content: x}}
    - {name: kept, copy: {dest: "{{ root }}/h0-kept", content: same}}
    - {name: probe, command: "true", changed_when: false}
    - {name: runs, command: "true"}
    - {name: skipped, command: "true", when: false}
""")
    assert h.statuses("h0") == [("new", "changed"), ("kept", "ok"), ("probe", "ok"),
                                ("runs", "changed"), ("skipped", "skipped")]
    assert h.execs("h0") == 2


def test_handlers_fire_in_order_after_a_batched_run(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    log = tmp_path / "log"
    summary = h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - {{name: a, copy: {{dest: "{tmp_path}/a", content: a}}, notify: [h2, h1]}}
    - {{name: b, copy: {{dest: "{tmp_path}/b", content: b}}, notify: h3}}
  handlers:
    - {{name: h1, shell: "echo h1 >> {log}"}}
    - {{name: h2, shell: "echo h2 >> {log}"}}
    - {{name: h3, shell: "echo h3 >> {log}"}}
""")
    assert summary.ok
    assert log.read_text() == "h1\nh2\nh3\n"
    assert h.execs("h0") == 3  # facts + changes, then the handlers in one batch


def test_loop_items_all_run_then_the_task_fails(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - name: items
      shell: "test {{{{ item }}}} != 2 && touch {tmp_path}/item{{{{ item }}}}"
      loop: [1, 2, 3]
    - {{name: after, file: {{path: "{tmp_path}/after", state: touch}}}}
""")
    assert [(e.item, e.status) for e in h.results("h0")] == [(1, "changed"), (2, "failed"),
                                                              (3, "changed")]
    assert (tmp_path / "item3").exists() and not (tmp_path / "after").exists()


def test_facts_are_regathered_after_a_task_changes_them(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    summary = h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - shell: "echo one > {tmp_path}/f"
    - {{name: see it, lineinfile: {{path: "{tmp_path}/f", line: two}}}}
""")
    assert summary.ok
    assert (tmp_path / "f").read_text() == "one\ntwo\n"


def test_register_splits_the_batch_so_later_tasks_see_results(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - {{shell: "echo 42", register: answer, changed_when: false}}
    - {{copy: {{dest: "{tmp_path}/answer", content: "{{{{ answer.stdout }}}}"}}}}
""")
    assert (tmp_path / "answer").read_text() == "42"


def test_become_is_passed_and_splits_batches(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    h.run("""
- hosts: all
  gather_facts: false
  become: true
  tasks:
    - {command: "true"}
    - {command: "true", become: false}
""")
    calls = [c.become for c in h.transports["h0"].calls if c.kind == "run"]
    assert calls == [True, False]


def test_big_files_travel_by_put_and_temporary_copies_are_removed(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    big = "x" * 300_000
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "big").write_text(big)
    summary = h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - {{copy: {{src: big, dest: "{tmp_path}/big-copy"}}}}
""")
    assert summary.ok
    assert (tmp_path / "big-copy").read_text() == big
    puts = [c for c in h.transports["h0"].calls if c.kind == "put"]
    assert len(puts) == 1 and not Path(puts[0].target).exists()


def test_script_steps_parse_back_exactly() -> None:
    steps = [Step(0, (Command("echo a; echo e >&2"),)),
             Step(1, (Command("true"), Command("printf 'no newline'; exit 5"))),
             Step(2, (Command("echo never"),))]
    script = build_script(steps, "n0nce", uploads={})
    result = FakeTransport(execute=True).run("/bin/sh -s", stdin=script.encode())
    outcomes = parse_outcomes(steps, result.stdout, result.stderr, "n0nce")
    assert (outcomes[0].stdout, outcomes[0].stderr, outcomes[0].exit_code) == ("a", "e", 0)
    assert (outcomes[1].exit_code, outcomes[1].failed_command) == (5, 1)
    assert outcomes[1].stdout == "no newline"
    assert not outcomes[2].ran


def test_tasks_after_an_opaque_command_run_in_the_same_exec_when_their_facts_hold(
        tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    summary = h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - {{command: "touch {tmp_path}/elsewhere"}}
    - {{copy: {{dest: "{tmp_path}/a", content: a}}}}
    - {{file: {{path: "{tmp_path}/dir", state: directory}}}}
""")
    assert summary.ok and summary.results["h0"].changed == 3
    assert h.execs("h0") == 2  # facts, then one guarded change script


def test_a_guard_catches_facts_changed_by_an_opaque_command(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    summary = h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - {{name: make, shell: "echo one > {tmp_path}/f"}}
    - {{name: edit, lineinfile: {{path: "{tmp_path}/f", line: two}}}}
""")
    assert summary.ok
    assert (tmp_path / "f").read_text() == "one\ntwo\n"
    assert h.statuses("h0") == [("make", "changed"), ("edit", "changed")]
    # facts; the batch stopped by the guard, which printed the file's facts as they are now;
    # the edit re-planned on them
    assert h.execs("h0") == 3


def test_a_guard_failing_inside_a_loop_keeps_earlier_items_results(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    (tmp_path / "m").write_text("")
    summary = h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - name: once
      command: rm {tmp_path}/m removes={tmp_path}/m
      loop: [1, 2]
""")
    assert [(e.item, e.status) for e in h.results("h0")] == [(1, "changed"), (2, "ok")]
    assert summary.results["h0"].changed == 1
    assert h.execs("h0") == 2  # facts; item 1, then item 2's guard fails and prints them fresh


def test_until_retries_the_task_alone(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    counter = tmp_path / "count"
    summary = h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - {{name: before, copy: {{dest: "{tmp_path}/before", content: x}}}}
    - name: poll
      shell: "echo x >> {counter}; wc -l < {counter}"
      register: n
      until: n.stdout | int >= 3
      retries: 5
      delay: 0
    - name: gives up
      shell: "false"
      register: r
      until: r.rc == 0
      retries: 2
      delay: 0
""")
    assert counter.read_text() == "x\nx\nx\n"  # three attempts, and only the polled command
    assert (tmp_path / "before").read_text() == "x"
    assert h.statuses("h0") == [("before", "changed"), ("poll", "changed"),
                                ("gives up", "failed")]
    assert summary.results["h0"].failures[0].task == "gives up"


def test_grouped_steps_report_the_failing_command_too() -> None:
    steps = [Step(0, (Command("echo a"), Command("false"), Command("echo never")),
                  isolate=False),
             Step(1, (Command("echo b"),), isolate=False, may_fail=True)]
    script = build_script(steps, "n0nce", uploads={})
    result = FakeTransport(execute=True).run("/bin/sh -s", stdin=script.encode())
    outcomes = parse_outcomes(steps, result.stdout, result.stderr, "n0nce")
    assert (outcomes[0].exit_code, outcomes[0].failed_command, outcomes[0].stdout) == (1, 1, "a")
    assert not outcomes[1].ran  # the failure stopped the script


def test_files_are_created_with_their_mode_and_the_umask_restored_without_a_subshell(
        tmp_path: Path) -> None:
    path = tmp_path / "f"
    steps = [Step(0, (write_file(str(path), b"x", Attrs(mode=0o640), ABSENT_FILE),),
                  isolate=False),
             Step(1, (Command("command umask"),), isolate=False)]
    script = build_script(steps, "n0nce", uploads={})
    # ``$(umask)`` would fork; were it used, this stand-in would spoil the restored umask
    spoiler = 'umask() { if [ $# -eq 0 ]; then echo 0777; else command umask "$@"; fi; }\n'
    result = subprocess.run(["/bin/sh", "-c", "umask 027; exec /bin/sh -s"],
                            input=(spoiler + script).encode(), capture_output=True, check=True)
    outcomes = parse_outcomes(steps, result.stdout.decode(), result.stderr.decode(), "n0nce")
    assert (outcomes[0].exit_code, outcomes[1].stdout) == (0, "0027")
    assert path.read_bytes() == b"x" and path.stat().st_mode & 0o777 == 0o640


def test_tasks_on_a_file_an_earlier_task_writes_plan_on_its_prediction(tmp_path: Path) -> None:
    """copy then lineinfile edits of the same new file: one change exec, exact results."""
    play = f"""
- hosts: all
  gather_facts: false
  tasks:
    - {{name: base, copy: {{dest: "{tmp_path}/f", content: "a\\n", mode: "0640"}}}}
    - {{name: add b, lineinfile: {{path: "{tmp_path}/f", line: b}}}}
    - {{name: add b again, lineinfile: {{path: "{tmp_path}/f", line: b}}}}
    - {{name: new c, lineinfile: {{path: "{tmp_path}/g", line: c, create: true}}}}
    - {{name: c to d, lineinfile: {{path: "{tmp_path}/g", regexp: "^c", line: d}}}}
"""
    h = Harness(tmp_path, 1)
    assert h.run(play).ok
    assert (tmp_path / "f").read_text() == "a\nb\n"
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "g").read_text() == "d\n"
    assert h.statuses("h0") == [("base", "changed"), ("add b", "changed"),
                                ("add b again", "ok"), ("new c", "changed"),
                                ("c to d", "changed")]
    assert h.execs("h0") == 2  # facts, then every task in one guarded change script


def test_a_wrong_prediction_is_caught_by_its_guard(tmp_path: Path) -> None:
    """``validate`` rewrites the file as it is installed, so the copy's prediction is wrong:
    the next task's guard sees the real file and that task is planned again on it."""
    h = Harness(tmp_path, 1)
    summary = h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - name: base
      copy: {{dest: "{tmp_path}/f", content: "a\\n", validate: "echo x >> %s"}}
    - {{name: add x, lineinfile: {{path: "{tmp_path}/f", line: x}}}}
    - {{name: add b, lineinfile: {{path: "{tmp_path}/f", line: b}}}}
""")
    assert summary.ok
    assert (tmp_path / "f").read_text() == "a\nx\nb\n"  # x was there already: not added twice
    assert h.statuses("h0") == [("base", "changed"), ("add x", "ok"), ("add b", "changed")]
    assert h.execs("h0") == 3  # facts; base + the failed guard (fresh facts); the edits


def test_inline_data_reaches_the_file_byte_for_byte() -> None:
    """Small data travels as a printf format (a builtin: no process): every byte value but NUL,
    printf's own specials and a leading dash come back exactly from the real /bin/sh."""
    import random
    import subprocess

    from kboot.playbook.script import _data_function
    cases = [b"", b"-n", b"%s%d%%\\n\\\\", b"it's\n", bytes(range(1, 256)), b"x\0y"]
    rng = random.Random(7)
    cases += [bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 4000)))
              for _ in range(50)]
    for data in cases:
        fn = _data_function(data, None)
        assert ("base64" in fn) == (b"\0" in data)
        out = subprocess.run(["/bin/sh", "-c", fn + "kb_data"], capture_output=True, check=True)
        assert out.stdout == data


def test_a_wait_for_timeout_fails_its_own_task_with_its_message(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    summary = h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - {{name: before, copy: {{dest: "{tmp_path}/a", content: a}}}}
    - {{name: wait, wait_for: {{path: "{tmp_path}/never", timeout: 1}}}}
    - {{name: after, copy: {{dest: "{tmp_path}/b", content: b}}}}
""")
    assert h.statuses("h0") == [("before", "changed"), ("wait", "failed")]
    (failure,) = summary.failures
    assert failure.task == "wait" and "timeout after 1s" in failure.output
    assert not (tmp_path / "b").exists()


def test_a_template_error_in_until_fails_the_task_without_retrying(tmp_path: Path) -> None:
    h = Harness(tmp_path, 1)
    counter = tmp_path / "count"
    summary = h.run(f"""
- hosts: all
  gather_facts: false
  tasks:
    - name: poll
      shell: "echo x >> {counter}"
      register: n
      until: n.rc == no_such_variable
      retries: 5
      delay: 0
    - {{name: never, copy: {{dest: "{tmp_path}/never", content: x}}}}
""")
    assert counter.read_text() == "x\n"  # the condition cannot be evaluated: no retry
    assert h.statuses("h0") == [("poll", "failed")]
    assert not (tmp_path / "never").exists()
    (failure,) = summary.results["h0"].failures
    assert failure.task == "poll" and failure.location.endswith("pb.yml:5")
    assert failure.message.startswith("until: ") and "no_such_variable" in failure.message
