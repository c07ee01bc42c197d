"""Correctness under batching over real sshd hosts (tests/fixtures/sshd.py): many tasks share
one exec, yet a failure names the right task and stops only its host, ``changed`` is exact per
task, and handlers fire in definition order. The unit twin is tests/unit/playbook/test_batching.py.

Runs as the fixture's unprivileged user (a clean login shell) in a world-writable scratch
directory ``/tmp/kbt-batch-*`` (the hosts share this machine's filesystem).
"""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from kboot.inventory import load_inventory
from kboot.playbook import Event, TaskResult, run_playbook
from tests.fixtures.sshd import SshdHosts

pytestmark = pytest.mark.integration
PREFIX = "kbt-batch-"

PLAYBOOK = """
- hosts: all_hosts
  gather_facts: false
  vars:
    d: "{root}/{{{{ inventory_hostname }}}}"
  tasks:
    - {{name: new file, copy: {{dest: "{{{{ d }}}}/new", content: "n\\n", mode: "0640"}},
       notify: [second, first]}}
    - {{name: same file, copy: {{dest: "{{{{ d }}}}/same", content: "s\\n", mode: "0644"}}}}
    - {{name: guarded, shell: "echo x > {{{{ d }}}}/same", args: {{creates: "{{{{ d }}}}/same"}}}}
    - name: breaks on h1
      shell: "echo partial; echo boom >&2; exit 3"
      when: inventory_hostname == 'h1'
    - {{name: after, copy: {{dest: "{{{{ d }}}}/after", content: "a\\n"}}, notify: third}}
  handlers:
    - {{name: first, shell: "echo first >> {{{{ d }}}}/handlers"}}
    - {{name: second, shell: "echo second >> {{{{ d }}}}/handlers"}}
    - {{name: third, shell: "echo third >> {{{{ d }}}}/handlers"}}
"""


@pytest.fixture
def scratch() -> Iterator[Path]:
    for old in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        shutil.rmtree(old, ignore_errors=True)  # leftovers of a crashed run
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    root.chmod(0o777)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_batched_run_is_exact_per_task_and_host(
        scratch: Path, sshd_hosts: SshdHosts, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBOOT_TEST_BECOME_PASSWORD", sshd_hosts.deploy_password)  # unused
    work = scratch / "work"
    work.mkdir()
    inventory = load_inventory(sshd_hosts.write_inventory(work / "inv.yaml",
                                                          user=sshd_hosts.deploy_user))
    for host in ("h0", "h1", "h2"):
        (scratch / host).mkdir()
        shutil.chown(scratch / host, sshd_hosts.deploy_user, sshd_hosts.deploy_user)
        (scratch / host / "same").write_text("s\n")
        (scratch / host / "same").chmod(0o644)
        shutil.chown(scratch / host / "same", sshd_hosts.deploy_user, sshd_hosts.deploy_user)
    (work / "site.yml").write_text(textwrap.dedent(PLAYBOOK.format(root=scratch)))
    events: list[Event] = []
    summary = run_playbook(work / "site.yml", inventory, on_event=events.append)

    def statuses(host: str) -> list[tuple[str, str]]:
        return [(e.task, e.status) for e in events if isinstance(e, TaskResult) and e.host == host]

    assert statuses("h0") == [("new file", "changed"), ("same file", "ok"), ("guarded", "ok"),
                              ("breaks on h1", "skipped"), ("after", "changed"),
                              ("first", "changed"), ("second", "changed"), ("third", "changed")]
    assert (scratch / "h0" / "handlers").read_text() == "first\nsecond\nthird\n"
    assert summary.results["h0"].execs <= 3  # facts, changes, handlers
    assert statuses("h1") == [("new file", "changed"), ("same file", "ok"), ("guarded", "ok"),
                              ("breaks on h1", "failed")]
    (failure,) = summary.failures
    assert (failure.host, failure.task, failure.exit_code) == ("h1", "breaks on h1", 3)
    assert failure.output == "boom"
    assert not (scratch / "h1" / "after").exists()  # later tasks did not run on h1
    assert not (scratch / "h1" / "handlers").exists()  # nor its handlers
    assert (scratch / "h1" / "new").read_text() == "n\n"  # what ran before the failure stays
    assert (scratch / "h2" / "after").read_text() == "a\n"  # the others finished

    events.clear()
    again = run_playbook(work / "site.yml", inventory, limit="h0,h2", on_event=events.append)
    assert again.ok and not again.changed
    assert {s for _, s in statuses("h2")} == {"ok", "skipped"}
    assert again.results["h2"].execs == 1  # a no-op re-run is one round trip
