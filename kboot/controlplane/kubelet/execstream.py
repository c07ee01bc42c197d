"""``kubectl exec`` streams: the WebSocket channel protocol relayed to ``ctr task exec``.

containerd 1.6's own streaming server has no ``v5.channel.k8s.io`` (no stdin half-close), so the
kubelet runs ``ctr -n k8s.io task exec --exec-id … [--tty] <container> <cmd…>`` itself: with
pipes (exact stdin EOF, separate stdout/stderr) or, for ``tty=true``, a pseudo-terminal whose
window size follows resize messages (ctr forwards SIGWINCH to the process). ctr's exit status is
the command's, reported as a v4/v5 ``Status`` on channel 3.

Frames are binary WebSocket messages whose first byte is the channel: 0 stdin, 1 stdout,
2 stderr, 3 status, 4 resize (``{"Width":…,"Height":…}``), 255 close (v5; payload = channel).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import struct
import termios
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
Send = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True)
class ExecRequest:
    container_id: str
    command: tuple[str, ...]
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    tty: bool = False


def status_frame(exit_code: int, command: tuple[str, ...]) -> bytes:
    """The channel-3 Status kubectl turns into "command terminated with exit code N". A
    negative code is the runner (ctr) killed by a signal, not the command's exit: an
    InternalError saying so, never a made-up "exit code -6"."""
    body: dict[str, Any]
    if exit_code < 0:
        return error_frame(f"error executing command {list(command)}: the exec runner (ctr) "
                           f"was killed by signal {-exit_code}")
    if exit_code == 0:
        body = {"metadata": {}, "status": "Success"}
    else:
        body = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                "message": f"command terminated with non-zero exit code: error executing "
                           f"command {list(command)}, exit code {exit_code}",
                "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}}
    return bytes([STATUS]) + json.dumps(body).encode()


def error_frame(message: str) -> bytes:
    body = {"metadata": {}, "status": "Failure", "reason": "InternalError", "message": message}
    return bytes([STATUS]) + json.dumps(body).encode()


def ctr_command(ctr: str, address: str, req: ExecRequest) -> list[str]:
    cmd = [ctr, "--address", address, "-n", "k8s.io", "task", "exec",
           "--exec-id", f"kboot-exec-{uuid.uuid4().hex[:12]}"]
    if req.tty:
        cmd.append("--tty")
    return [*cmd, req.container_id, *req.command]


def parse_size(payload: bytes) -> tuple[int, int] | None:
    """(rows, columns) of a resize message ``{"Width":…,"Height":…}``; None if malformed."""
    try:
        size = json.loads(payload or b"{}")
        return int(size.get("Height", 24)), int(size.get("Width", 80))
    except (ValueError, TypeError, AttributeError):
        return None


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class ExecSession:
    """One running exec: feed it frames with :meth:`on_frame`, await :meth:`wait`."""

    def __init__(self, req: ExecRequest, send: Send) -> None:
        self.req, self.send = req, send
        self.proc: asyncio.subprocess.Process | None = None
        self.master = -1
        self._readers: list[asyncio.Task[None]] = []
        self.unsent_stderr = b""  # the tail of stderr the client did not ask for

    async def start(self, argv: list[str], size: tuple[int, int] | None = None) -> None:
        """Run *argv*; with a tty, *size* (rows, columns) is the terminal's size from the
        start: ctr copies it to the container's tty when it starts, and later sizes follow
        through SIGWINCH (a resize sent before ctr listens for SIGWINCH would be lost)."""
        if self.req.tty:
            self.master, slave = os.openpty()
            if size is not None:
                _set_size(self.master, *size)

            def setup() -> None:  # runs in the child: make the pty its controlling terminal
                os.setsid()
                # the slave by its own descriptor: uvloop runs this before stdio is in place
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

            self.proc = await asyncio.create_subprocess_exec(
                *argv, stdin=slave, stdout=slave, stderr=slave, preexec_fn=setup)
            os.close(slave)
            self._readers.append(asyncio.create_task(self._pump_fd(self.master, STDOUT)))
            return
        self.proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if self.req.stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers += [asyncio.create_task(self._pump(self.proc.stdout, STDOUT)),
                          asyncio.create_task(self._pump(self.proc.stderr, STDERR))]

    async def _pump(self, stream: asyncio.StreamReader, channel: int) -> None:
        while chunk := await stream.read(32768):
            wanted = self.req.stdout if channel == STDOUT else self.req.stderr
            if wanted:
                await self.send(bytes([channel]) + chunk)
            elif channel == STDERR:  # ctr's own errors land here too: keep them for the log
                self.unsent_stderr = (self.unsent_stderr + chunk)[-2000:]

    async def _pump_fd(self, fd: int, channel: int) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                chunk = await loop.run_in_executor(None, os.read, fd, 32768)
            except OSError:  # EIO once the child side closes
                return
            if not chunk:
                return
            await self.send(bytes([channel]) + chunk)

    async def on_frame(self, frame: bytes) -> None:
        if not frame or self.proc is None:
            return
        channel, payload = frame[0], frame[1:]
        if channel == STDIN:
            await self._write_stdin(payload)
        elif channel == RESIZE and self.master >= 0:
            size = parse_size(payload)
            if size is not None:
                _set_size(self.master, *size)
        elif channel == CLOSE and payload[:1] == bytes([STDIN]):
            self.close_stdin()

    async def _write_stdin(self, data: bytes) -> None:
        if self.master >= 0:
            os.write(self.master, data)
        elif self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.write(data)
            with contextlib.suppress(ConnectionError):
                await self.proc.stdin.drain()

    def close_stdin(self) -> None:
        if self.master >= 0:
            with contextlib.suppress(OSError):
                os.write(self.master, b"\x04")  # EOF on a terminal is ^D
        elif self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()

    async def wait(self) -> int:
        assert self.proc is not None
        code = await self.proc.wait()
        if self.master >= 0:
            await asyncio.sleep(0.05)  # let the pty drain before closing it
        await asyncio.gather(*self._readers, return_exceptions=True)
        if self.master >= 0:
            with contextlib.suppress(OSError):
                os.close(self.master)
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()

    async def end(self, wait: float = 2.0) -> None:
        """Kill the command's ``ctr`` and reap it (shielded: called while being cancelled), so
        that no process of the kubelet outlives it (docs/architecture.md, "Process model and
        stopping")."""
        self.kill()
        if self.proc is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self.proc.wait()), wait)
