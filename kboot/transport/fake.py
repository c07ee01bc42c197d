"""``FakeTransport``: a scripted, recording transport for unit tests (kboot's and users').

Two modes:

* **scripted** (default): ``on(pattern, result)`` answers commands matching an exact string or a
  regex (first match wins, checked in order of registration) with a :class:`RunResult`, a
  stdout string, or a callable ``(command, stdin) -> RunResult``. Unmatched commands exit 127.
  ``put``/``get`` use an in-memory file system (``files``; a streamed ``put`` is read into it).
* **execute** (``execute=True``): unmatched commands really run through ``/bin/sh`` on this
  machine (with ``env`` added, e.g. a ``PATH`` starting with a directory of stub ``systemctl``
  or ``dpkg-query`` scripts), and ``put``/``get`` use real files (a streamed ``put`` is copied
  in chunks, as the real transports do). Point the playbook's paths into a temporary
  directory: this runs kboot's generated batch scripts for real, which is how the runner's
  batching is tested without SSH.

Every call is recorded in ``calls`` (``runs`` lists just the commands). ``unreachable=True``
makes every call raise :class:`~kboot.errors.ConnectError`; ``latency`` adds a per-call delay
that simulates a network round trip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from kboot.errors import ConnectError
from kboot.transport.base import RunResult

Responder = Callable[[str, bytes | None], RunResult]


@dataclass(frozen=True)
class Call:
    """One recorded transport call."""

    kind: Literal["run", "put", "get"]
    target: str  # the command, or the remote path
    stdin: bytes | None = None
    become: bool = False
    data: bytes | None = None  # a put's bytes (None when streamed from a file object)
    streamed: bool = False


class FakeTransport:
    """A :class:`~kboot.transport.base.Transport` for tests; see the module docstring."""

    def __init__(
        self,
        host: str = "fake",
        *,
        execute: bool = False,
        env: Mapping[str, str] | None = None,
        unreachable: bool = False,
        latency: float = 0.0,
    ) -> None:
        self.host = host
        self.execute = execute
        self.env = dict(env or {})
        self.unreachable = unreachable
        self.latency = latency
        self.calls: list[Call] = []
        self.files: dict[str, bytes] = {}
        self.closed = False
        self._rules: list[tuple[str | re.Pattern[str], Responder]] = []
        self._lock = threading.Lock()

    def on(
        self, pattern: str | re.Pattern[str], result: RunResult | str | Responder
    ) -> FakeTransport:
        """Answer commands equal to ``pattern`` (a str) or matching it (a compiled regex)."""
        if isinstance(result, RunResult):
            fixed = result
            responder: Responder = lambda cmd, _stdin: RunResult(  # noqa: E731
                cmd, fixed.exit_code, fixed.stdout, fixed.stderr)
        elif isinstance(result, str):
            text = result
            responder = lambda cmd, _stdin: RunResult(cmd, 0, text, "")  # noqa: E731
        else:
            responder = result
        self._rules.append((pattern, responder))
        return self

    @property
    def runs(self) -> list[str]:
        return [call.target for call in self.calls if call.kind == "run"]

    def _record(self, call: Call) -> None:
        if self.unreachable:
            raise ConnectError(self.host, "connection refused (fake transport: unreachable)")
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            self.calls.append(call)

    def _match(self, command: str) -> Responder | None:
        for pattern, responder in self._rules:
            if isinstance(pattern, str) and pattern == command:
                return responder
            if isinstance(pattern, re.Pattern) and pattern.search(command):
                return responder
        return None

    def run(
        self,
        command: str,
        *,
        stdin: bytes | None = None,
        become: bool = False,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RunResult:
        self._record(Call("run", command, stdin=stdin, become=become))
        responder = self._match(command)
        if responder is not None:
            return responder(command, stdin)
        if not self.execute:
            return RunResult(command, 127, "", f"fake transport: no response for {command!r}")
        started = time.monotonic()
        proc = subprocess.run(
            ["/bin/sh", "-c", command], input=stdin or b"", capture_output=True,
            timeout=timeout, env={**os.environ, **self.env, **(env or {})}, check=False)
        return RunResult(command, proc.returncode, proc.stdout.decode(errors="replace"),
                         proc.stderr.decode(errors="replace"), time.monotonic() - started)

    def put(self, data: bytes | BinaryIO, path: str, *, mode: int = 0o644,
            become: bool = False) -> None:
        self._record(Call("put", path, become=become,
                          data=data if isinstance(data, bytes) else None,
                          streamed=not isinstance(data, bytes)))
        if not self.execute:
            self.files[path] = data if isinstance(data, bytes) else data.read()
            return
        with open(path, "wb") as fh:
            if isinstance(data, bytes):
                fh.write(data)
            else:
                shutil.copyfileobj(data, fh)
        os.chmod(path, mode)

    def get(self, path: str, *, become: bool = False) -> bytes:
        self._record(Call("get", path, become=become))
        if self.execute:
            return Path(path).read_bytes()
        try:
            return self.files[path]
        except KeyError:
            raise FileNotFoundError(path) from None

    def close(self) -> None:
        self.closed = True
