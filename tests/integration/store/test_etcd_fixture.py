"""The etcd fixture cleans up after crashed runs, and only after crashed runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.fixtures.etcd import PREFIX, cleanup_stray_etcd

pytestmark = pytest.mark.integration


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _fake_etcd(data_dir: Path) -> subprocess.Popen[bytes]:
    """A process whose command line looks like a test etcd's (argv[0] 'etcd', --data-dir)."""
    args = ["etcd", "-c", "import time; time.sleep(60)", f"--data-dir={data_dir}/m0"]
    proc = subprocess.Popen(args, executable=sys.executable)
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    deadline = time.monotonic() + 10
    while not cmdline.read_bytes().startswith(b"etcd\0") and time.monotonic() < deadline:
        time.sleep(0.01)  # until exec has replaced the forked pytest image
    return proc


def test_cleanup_kills_orphans_and_spares_live_runs() -> None:
    tmp = Path(tempfile.gettempdir())
    orphan_dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{_dead_pid()}-", dir=tmp))
    live_dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=tmp))
    orphan, live = _fake_etcd(orphan_dir), _fake_etcd(live_dir)
    try:
        cleanup_stray_etcd()
        assert orphan.wait(timeout=10) != 0, "the orphan was killed"
        assert not orphan_dir.exists()
        assert live.poll() is None and live_dir.exists(), "a live run's etcd is left alone"
    finally:
        for proc in (orphan, live):
            proc.kill()
            proc.wait()
        for d in (orphan_dir, live_dir):
            shutil.rmtree(d, ignore_errors=True)
