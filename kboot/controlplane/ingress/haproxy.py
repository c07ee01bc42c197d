"""The controller's own haproxy: files on disk, validation, and hitless reloads.

haproxy runs as our child in master-worker mode (``haproxy -W -f CFG -p PIDFILE``, foreground
master). A new configuration is written next to the live one, checked with ``haproxy -c``
and only then renamed into place; the reload is ``SIGUSR2`` to the master, which re-executes
itself, starts new workers on the same listening sockets and lets the old workers finish their
in-flight connections (bounded by ``hard-stop-after``). An invalid configuration never replaces
a working one. Certificate PEMs are written atomically (0600) before validation because the
configuration refers to them; stale PEMs are removed after a successful reload.

This instance is separate from the API load balancer's haproxy (Debian's ``haproxy.service``
on 127.0.0.1:6443): its own config path, pid file and ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kboot.controlplane.ingress.config import CRT_LIST, RenderedConfig

log = logging.getLogger(__name__)


class ConfigRejected(Exception):
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
        proc = await asyncio.create_subprocess_exec(
            str(self.paths.binary), "-W", "-f", str(self.paths.config),
            "-p", str(self.paths.pid_file), stdin=asyncio.subprocess.DEVNULL)
        log.info("haproxy started (master pid %d, %s)", proc.pid, self.paths.config)
        with contextlib.suppress(TimeoutError):  # it exits at once when it cannot bind
            await asyncio.wait_for(asyncio.shield(proc.wait()), 0.3)
            raise RuntimeError(f"haproxy exited at start; see its log ({self.paths.config})")
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
        self._proc.send_signal(signal.SIGUSR2)
        log.info("haproxy reloaded (master pid %d)", self._proc.pid)

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


def _same(a: RenderedConfig, b: RenderedConfig) -> bool:
    return a.haproxy_cfg == b.haproxy_cfg and a.files == b.files
