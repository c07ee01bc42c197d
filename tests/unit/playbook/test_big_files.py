"""A ``copy`` of a big workstation file streams from disk: never read whole, hashed once per run
for all hosts, uploaded in chunks, the upload removed; ``changed``, ``--check`` and ``--diff``
stay exact. The hosts are FakeTransports in execute mode (real files under tmp_path)."""

from __future__ import annotations

import hashlib
import random
import stat
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from kboot.tasks.base import INLINE_LIMIT, LocalFile
from tests.unit.playbook.helpers import Harness

COPY = """
- hosts: all
  gather_facts: false
  tasks:
    - name: big file
      copy: {src: big.bin, dest: "{{ root }}/{{ inventory_hostname }}.bin", mode: "0640"}
"""


def _random_file(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(size)
    with path.open("wb") as fh:
        for start in range(0, size, 1 << 20):
            fh.write(rng.randbytes(min(1 << 20, size - start)))
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files kboot hashed by streaming them (``hashlib.file_digest``), in order."""
    names: list[str] = []
    real = hashlib.file_digest

    def spy(fileobj: IO[bytes], digest: Any) -> Any:
        names.append(str(fileobj.name))
        return real(fileobj, digest)

    monkeypatch.setattr(hashlib, "file_digest", spy)
    return names


@pytest.fixture
def no_whole_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``Path.read_bytes`` of a file above the inline limit fails the test."""
    real: Callable[[Path], bytes] = Path.read_bytes

    def guarded(self: Path) -> bytes:
        assert self.stat().st_size <= INLINE_LIMIT, f"{self} was read whole"
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", guarded)
    yield


def test_a_big_copy_to_many_hosts_streams_from_disk_and_is_hashed_once(
        tmp_path: Path, hashed: list[str], no_whole_reads: None) -> None:
    size = 32 << 20
    src = _random_file(tmp_path / "files" / "big.bin", size)
    h = Harness(tmp_path, 8)
    tracemalloc.start()
    try:
        summary = h.run(COPY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.ok, summary.failures
    assert peak < size // 8, peak  # the file was held (and base64'd) once per host before
    assert hashed == [str(src.resolve())]  # once, for all eight hosts
    want = _sha256(src)
    for host in (f"h{i}" for i in range(8)):
        (put,) = [c for c in h.transports[host].calls if c.kind == "put"]
        assert put.streamed and put.data is None
        assert not Path(put.target).exists()  # the upload is removed after the write
        dest = tmp_path / f"{host}.bin"
        assert _sha256(dest) == want
        assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.glob(".kboot-tmp.*")) == []


def test_a_big_copy_is_ok_when_equal_and_changed_when_one_byte_differs(
        tmp_path: Path, hashed: list[str]) -> None:
    size = INLINE_LIMIT + 4096
    src = _random_file(tmp_path / "files" / "big.bin", size)
    h = Harness(tmp_path, 2)
    assert h.run(COPY).ok
    again = h.run(COPY)
    assert again.ok and not again.changed
    assert [c for t in h.transports.values() for c in t.calls if c.kind == "put"] == []
    with src.open("r+b") as fh:  # same size, one byte different
        fh.seek(size // 2)
        byte = fh.read(1)
        fh.seek(size // 2)
        fh.write(bytes([byte[0] ^ 1]))
    third = h.run(COPY)
    assert third.ok and {e.status for e in h.results()} == {"changed"}
    assert _sha256(tmp_path / "h1.bin") == _sha256(src)
    assert len(hashed) == 3  # once per run (each run has its own cache)


def test_check_and_diff_of_a_big_copy_summarise_it_without_reading_either_file(
        tmp_path: Path, no_whole_reads: None) -> None:
    size = INLINE_LIMIT + 1
    src = _random_file(tmp_path / "files" / "big.bin", size)
    dest = tmp_path / "h0.bin"
    dest.write_bytes(b"old\n")
    h = Harness(tmp_path, 1)
    summary = h.run(COPY, check=True, diff=True)
    assert summary.ok
    (result,) = h.results("h0")
    assert result.status == "changed"
    old = hashlib.sha256(b"old\n").hexdigest()
    assert result.diff[0].before == f"(not shown: 4 bytes, sha256 {old})\n"
    assert result.diff[0].after == f"(not shown: {size} bytes, sha256 {_sha256(src)})\n"
    assert dest.read_bytes() == b"old\n"
    calls = h.transports["h0"].calls
    assert not [c for c in calls if c.kind == "put"]
    assert not [c for c in calls if c.stdin and b"base64 -w0" in c.stdin]  # no content fact


def test_a_source_changed_after_planning_fails_the_host_and_removes_earlier_uploads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _random_file(tmp_path / "files" / "one.bin", INLINE_LIMIT + 1)
    two = _random_file(tmp_path / "files" / "two.bin", INLINE_LIMIT + 2)
    real = LocalFile.open

    def edited_first(self: LocalFile) -> Any:
        if self.path.name == "two.bin":
            with two.open("ab") as fh:
                fh.write(b"late edit")
        return real(self)

    monkeypatch.setattr(LocalFile, "open", edited_first)
    h = Harness(tmp_path, 1)
    summary = h.run("""
- hosts: all
  gather_facts: false
  tasks:
    - {copy: {src: one.bin, dest: "{{ root }}/one.out"}}
    - {copy: {src: two.bin, dest: "{{ root }}/two.out"}}
""")
    (failure,) = summary.failures
    assert "changed while kboot was using it" in failure.message
    (put,) = [c for c in h.transports["h0"].calls if c.kind == "put"]
    assert not Path(put.target).exists()  # one.bin's upload: the script that removes it never ran
    assert not (tmp_path / "one.out").exists() and not (tmp_path / "two.out").exists()
