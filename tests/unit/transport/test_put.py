"""``put`` of a file object (a big file streamed from disk) on the local and fake transports: the
bytes arrive whole with their mode, and a write that fails leaves no temp file behind."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from kboot.errors import TransportError
from kboot.transport.fake import FakeTransport
from kboot.transport.local import LocalTransport


class _FailingSource(io.BytesIO):
    """A file object whose second read fails (a disk error half-way through)."""

    def read(self, size: int | None = -1) -> bytes:
        if self.tell():
            raise OSError("read error")
        return super().read(1 << 16)


def test_local_put_streams_a_file_object_and_cleans_up_a_failed_write(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    (tmp_path / "src").write_bytes(data)
    transport = LocalTransport()
    with (tmp_path / "src").open("rb") as fh:
        transport.put(fh, str(tmp_path / "dest"), mode=0o600)
    assert (tmp_path / "dest").read_bytes() == data
    assert stat.S_IMODE((tmp_path / "dest").stat().st_mode) == 0o600
    with pytest.raises(TransportError, match="read error"):
        transport.put(_FailingSource(data), str(tmp_path / "other"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "src"]


def test_fake_put_records_a_stream_and_writes_it_in_both_modes(tmp_path: Path) -> None:
    data = os.urandom(1 << 20)
    real = FakeTransport(execute=True)
    real.put(io.BytesIO(data), str(tmp_path / "dest"), mode=0o640)
    assert (tmp_path / "dest").read_bytes() == data
    assert stat.S_IMODE((tmp_path / "dest").stat().st_mode) == 0o640
    (call,) = real.calls
    assert call.streamed and call.data is None
    scripted = FakeTransport()
    scripted.put(io.BytesIO(data), "/x")
    assert scripted.get("/x") == data
