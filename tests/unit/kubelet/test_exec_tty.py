"""A TTY exec session gets a controlling terminal on both event loops kboot runs on (uvloop
calls the child's set-up before its stdio is in place)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from kboot.controlplane.kubelet.execstream import ExecRequest, ExecSession

Runner = Callable[[Coroutine[Any, Any, tuple[int, bytes]]], tuple[int, bytes]]


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_tty_session_has_a_terminal(run: Runner) -> None:
    async def session() -> tuple[int, bytes]:
        out: list[bytes] = []

        async def send(frame: bytes) -> None:
            out.append(frame[1:])
        s = ExecSession(ExecRequest("c", ("sh",), stdin=True, tty=True), send)
        await s.start(["sh", "-c", "tty; exit 3"])
        code = await asyncio.wait_for(s.wait(), 10)
        return code, b"".join(out)
    code, out = run(session())
    assert code == 3 and out.startswith(b"/dev/pts/")


def test_tty_session_starts_with_the_clients_size() -> None:
    """The first resize kubectl sends sizes the terminal before the command starts (a size set
    later reaches ctr only through SIGWINCH, which it may not listen for yet)."""
    async def session() -> bytes:
        out: list[bytes] = []

        async def send(frame: bytes) -> None:
            out.append(frame[1:])
        s = ExecSession(ExecRequest("c", ("sh",), tty=True), send)
        await s.start(["sh", "-c", "stty size"], size=(31, 97))
        await asyncio.wait_for(s.wait(), 10)
        return b"".join(out)
    assert asyncio.run(session()).strip() == b"31 97"


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_ending_a_session_kills_and_reaps_its_command(run: Callable[[Any], int | None]) -> None:
    """What the kubelet does with a running exec when it stops: the command's process is gone
    (exited and reaped) before the kubelet goes on, so none outlives the kubelet's unit."""
    async def session() -> int | None:
        async def send(frame: bytes) -> None:
            pass
        s = ExecSession(ExecRequest("c", ("sleep",), stdout=True), send)
        await s.start(["sleep", "60"])
        await s.end()
        assert s.proc is not None
        return s.proc.returncode
    assert run(session()) == -9
