"""The controller's own haproxy: files on disk, validation, and hitless reloads.

haproxy runs as our child in master-worker mode (``haproxy -W -S SOCK -f CFG -p PIDFILE``,
foreground master). A new configuration is written next to the live one, checked with
``haproxy -c`` and only then renamed into place; the reload is ``SIGUSR2`` to the master, which
re-executes itself, starts new workers on the same listening sockets and lets the old workers
finish their in-flight connections (bounded by ``hard-stop-after``). An invalid configuration
never replaces a working one.

A reload counts only once the master says so: a ``SIGUSR2`` that arrives while the master is
still re-executing for the previous one is silently lost (haproxy 2.6 keeps serving the older
file — measured: a second signal sent 5 to 50 ms after the first was lost in every trial). So
every start and reload waits on the master CLI socket (``show proc``) until the master is up
and its reload counter has moved, re-sending the signal if it did not; a failed reload is an
error, and the controller retries the whole apply.

Certificate PEMs are written atomically (0600) before validation because the configuration
refers to them; stale PEMs are removed after a successful reload.

This instance is separate from the API load balancer's haproxy (Debian's ``haproxy.service``
on 127.0.0.1:6443): its own config path, pid file and ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kboot.controlplane.errors import ControlPlaneError
from kboot.controlplane.ingress.config import CRT_LIST, RenderedConfig

log = logging.getLogger(__name__)


class ConfigRejected(ControlPlaneError):
    """``haproxy -c`` refused a generated configuration (a bug or an unusable input)."""


class Proxy(Protocol):
    on_exit: Callable[[], None] | None  # called when the proxy dies on its own

    async def apply(self, rendered: RenderedConfig) -> bool: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class HAProxyPaths:
    binary: Path
    config: Path
    certs_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.config.with_suffix(".pid")

    @property
    def master_socket(self) -> Path:
        return self.config.with_suffix(".master.sock")


@dataclass(frozen=True)
class MasterState:
    """The master's line of ``show proc``: its reload counter and failed reloads."""

    reloads: int
    failed: int
    workers: int


_MASTER_LINE = re.compile(r"^\d+\s+master\s+(\d+)\s+\[failed:\s*(\d+)\]", re.M)


def parse_show_proc(text: str) -> MasterState | None:
    match = _MASTER_LINE.search(text)
    if not match:
        return None
    workers = len(re.findall(r"^\d+\s+worker\s", text, re.M))
    return MasterState(int(match[1]), int(match[2]), workers)


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class HAProxy:
    """Implements :class:`Proxy` with a real haproxy binary."""

    def __init__(self, paths: HAProxyPaths) -> None:
        self.paths = paths
        self._proc: asyncio.subprocess.Process | None = None
        self._applied: RenderedConfig | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.on_exit: Callable[[], None] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.returncode is None else None

    async def apply(self, rendered: RenderedConfig) -> bool:
        """Bring haproxy to ``rendered``; True when it was started or reloaded."""
        running = self.pid is not None
        if running and self._applied is not None and _same(self._applied, rendered):
            return False
        self._write_certs(rendered)
        candidate = self.paths.config.with_name(self.paths.config.name + ".new")
        write_atomic(candidate, rendered.haproxy_cfg.encode())
        await self._check(candidate)
        os.replace(candidate, self.paths.config)
        if running:
            await self._reload()
        else:
            await self._start()
        self._remove_stale(rendered)
        self._applied = rendered
        return True

    def _write_certs(self, rendered: RenderedConfig) -> None:
        self.paths.certs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name, data in sorted(rendered.files.items()):
            target = self.paths.certs_dir / name
            with contextlib.suppress(OSError):
                if target.read_bytes() == data:
                    continue
            write_atomic(target, data, 0o600)

    def _remove_stale(self, rendered: RenderedConfig) -> None:
        for path in self.paths.certs_dir.iterdir():
            if path.name not in rendered.files and (path.suffix == ".pem"
                                                    or path.name == CRT_LIST):
                path.unlink(missing_ok=True)

    async def _check(self, config: Path) -> None:
        proc = await asyncio.create_subprocess_exec(
            str(self.paths.binary), "-c", "-q", "-f", str(config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            tail = out.decode(errors="replace")[-2000:]
            raise ConfigRejected(f"haproxy -c rejected {config}: {tail}")

    async def _start(self) -> None:
        await self._kill_leftover()
        self.paths.config.parent.mkdir(parents=True, exist_ok=True)
        self.paths.master_socket.unlink(missing_ok=True)
        proc = await asyncio.create_subprocess_exec(
            str(self.paths.binary), "-W", "-S", str(self.paths.master_socket),
            "-f", str(self.paths.config), "-p", str(self.paths.pid_file),
            stdin=asyncio.subprocess.DEVNULL)
        log.info("haproxy started (master pid %d, %s)", proc.pid, self.paths.config)
        waiting = asyncio.ensure_future(self._until(lambda st: st.workers > 0))
        exited = asyncio.ensure_future(proc.wait())
        await asyncio.wait({waiting, exited}, return_when=asyncio.FIRST_COMPLETED)
        if exited.done():  # it exits at once when it cannot bind
            waiting.cancel()
            raise RuntimeError(f"haproxy exited at start; see its log ({self.paths.config})")
        exited.cancel()
        if waiting.result() is None:
            proc.kill()
            await proc.wait()
            raise RuntimeError("haproxy started but its master never answered")
        self._proc = proc
        self._watcher = asyncio.create_task(self._watch(proc))

    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if proc is self._proc:  # not stopped by us
            log.error("haproxy master %d exited with %s; restarting", proc.pid, code)
            self._applied = None
            if self.on_exit:
                self.on_exit()

    async def _reload(self) -> None:
        assert self._proc is not None
        before = await self._until(lambda st: True)
        if before is None:
            raise RuntimeError("haproxy master does not answer on its socket")
        for _attempt in range(3):
            self._proc.send_signal(signal.SIGUSR2)
            after = await self._until(lambda st: st.reloads > before.reloads
                                      or st.failed > before.failed, timeout=5.0)
            if after is None:
                log.warning("haproxy master %d did not take the reload; signalling again",
                            self._proc.pid)
                continue
            if after.failed > before.failed:
                raise RuntimeError("haproxy failed to reload; the previous workers keep serving")
            log.info("haproxy reloaded (master pid %d, reload %d)", self._proc.pid,
                     after.reloads)
            return
        raise RuntimeError("haproxy did not reload after three signals")

    async def _until(self, done: Callable[[MasterState], bool], timeout: float = 10.0
                     ) -> MasterState | None:
        """Poll ``show proc`` until ``done(state)``; None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            state = await self._show_proc()
            if state is not None and done(state):
                return state
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.02)

    async def _show_proc(self) -> MasterState | None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.paths.master_socket)), 1.0)
        except (OSError, TimeoutError):
            return None  # not up yet, or re-executing
        try:
            writer.write(b"show proc\n")
            writer.write_eof()  # the master answers, then closes once our side is closed
            await writer.drain()
            text = (await asyncio.wait_for(reader.read(), 2.0)).decode(errors="replace")
        except (OSError, TimeoutError):
            return None
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return parse_show_proc(text)

    async def _kill_leftover(self) -> None:
        """A master left by an earlier controller (crash, SIGKILL) still holds our ports."""
        try:
            pid = int(self.paths.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        if str(self.paths.config) in _cmdline(pid):
            log.warning("stopping leftover haproxy master %d", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if not Path(f"/proc/{pid}").exists():
                    break
                await asyncio.sleep(0.1)

    async def stop(self, grace: float = 10.0) -> None:
        """Soft stop (``SIGUSR1``: listeners close, in-flight requests finish), then kill."""
        proc, self._proc = self._proc, None
        self._applied = None
        if self._watcher:
            self._watcher.cancel()
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGUSR1)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        self.paths.pid_file.unlink(missing_ok=True)
        self.paths.master_socket.unlink(missing_ok=True)


def _same(a: RenderedConfig, b: RenderedConfig) -> bool:
    return a.haproxy_cfg == b.haproxy_cfg and a.files == b.files
