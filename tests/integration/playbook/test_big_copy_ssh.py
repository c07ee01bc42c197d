"""A ``copy`` of a big workstation file to real sshd hosts (tests/fixtures/sshd.py): streamed
over SFTP, identical on every host (checked there with sha256sum), its mode set; a re-run is ok,
one changed byte is changed. Also as a non-root user with ``become`` (upload as the user, the
write as root), and the SSH transport's cleanup of a failed streamed upload."""

from __future__ import annotations

import hashlib
import io
import os
import textwrap
import tracemalloc
from pathlib import Path

import pytest

from kboot.errors import TransportError
from kboot.inventory import load_inventory
from kboot.playbook import Event, RunSummary, TaskResult, run_playbook
from kboot.transport.ssh import SSHTransport
from tests.fixtures.sshd import SshdHosts

pytestmark = pytest.mark.integration

SIZE = 20 << 20
PLAY = """
- hosts: all_hosts
  gather_facts: false
  become: true
  tasks:
    - name: big file
      copy: {src: big.bin, dest: "{{ root }}/{{ inventory_hostname }}.bin", mode: "0640"}
    - name: checksum on the host
      command: sha256sum {{ root }}/{{ inventory_hostname }}.bin
      register: sum
      changed_when: false
    - name: mode on the host
      stat: {path: "{{ root }}/{{ inventory_hostname }}.bin"}
      register: written
    - assert:
        that:
          - sum.stdout.split()[0] == want
          - written.stat.mode == '0640'
"""


def _run(tmp_path: Path, inventory: Path) -> tuple[RunSummary, dict[str, str]]:
    """The run, and the big file's status on each host."""
    events: list[Event] = []
    with (tmp_path / "files" / "big.bin").open("rb") as fh:
        want = hashlib.file_digest(fh, "sha256").hexdigest()
    summary = run_playbook(tmp_path / "site.yml", load_inventory(inventory),
                           extra_vars={"root": str(tmp_path / "out"), "want": want},
                           on_event=events.append)
    return summary, {e.host: e.status for e in events
                     if isinstance(e, TaskResult) and e.task == "big file"}


@pytest.mark.parametrize("user", ["root", "kbootdeploy"])
def test_big_copy_arrives_identical_then_is_ok_then_changed_after_one_byte(
        tmp_path: Path, sshd_hosts: SshdHosts, monkeypatch: pytest.MonkeyPatch,
        user: str) -> None:
    monkeypatch.setenv("KBOOT_TEST_BECOME_PASSWORD", sshd_hosts.deploy_password)
    (tmp_path / "files").mkdir()
    src = tmp_path / "files" / "big.bin"
    src.write_bytes(os.urandom(SIZE))
    (tmp_path / "out").mkdir()
    (tmp_path / "site.yml").write_text(textwrap.dedent(PLAY))
    inventory = sshd_hosts.write_inventory(tmp_path / "inventory.yaml", user=user)

    tracemalloc.start()
    try:
        first, statuses = _run(tmp_path, inventory)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first.ok, first.failures
    assert peak < SIZE // 4, peak  # streamed: never the whole file in memory, let alone per host
    assert statuses == {"h0": "changed", "h1": "changed", "h2": "changed"}
    assert (tmp_path / "out" / "h2.bin").stat().st_size == SIZE  # checked by sha256 on the host

    second, statuses = _run(tmp_path, inventory)
    assert second.ok and not second.changed, second.failures
    assert set(statuses.values()) == {"ok"}

    with src.open("r+b") as fh:  # one byte, same size
        fh.seek(SIZE // 3)
        byte = fh.read(1)[0]
        fh.seek(SIZE // 3)
        fh.write(bytes([byte ^ 0xFF]))
    third, statuses = _run(tmp_path, inventory)
    assert third.ok, third.failures  # the assert task checked the new sha256 on every host
    assert set(statuses.values()) == {"changed"}
    leftovers = [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".kboot")]
    assert leftovers == []


def test_a_failed_streamed_upload_leaves_no_temp_file(
        tmp_path: Path, sshd_hosts: SshdHosts) -> None:
    class FailingSource(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() > 1 << 20:
                raise OSError("read error")
            return super().read(size)

    inventory = load_inventory(sshd_hosts.write_inventory(tmp_path / "inventory.yaml"))
    transport = SSHTransport("h1", inventory.hosts["h1"].connection)
    try:
        dest = tmp_path / "h1-dest"
        with pytest.raises(TransportError, match="read error"):
            transport.put(FailingSource(os.urandom(4 << 20)), str(dest))
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".kboot-put-")]
        transport.put(io.BytesIO(b"after"), str(dest), mode=0o600)  # the session still works
        assert dest.read_bytes() == b"after"
    finally:
        transport.close()
