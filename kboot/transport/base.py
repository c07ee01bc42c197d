"""The seam between the runner and a host: the :class:`Transport` protocol and its result type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable


@dataclass(frozen=True)
class RunResult:
    """What one command did on a host. Failures are values, not exceptions: the caller decides."""

    command: str
    exit_code: int
    stdout: str
    stderr: str
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@runtime_checkable
class Transport(Protocol):
    """One host's connection. Thread-safe for concurrent calls on the same host.

    ``run`` executes a shell command line (``/bin/sh -c``) and returns its result; it raises only
    for transport failures (:class:`kboot.errors.TransportError`), never for non-zero exits.
    ``become`` runs the command as root through sudo (with a password if the host has one).

    ``put`` writes ``data`` — bytes, or a binary file object read in chunks to its end, so a
    big file is streamed and never held in memory — to ``path`` with ``mode``, atomically
    (temp file + rename; the temp file is removed if the write fails).
    """

    host: str

    def run(
        self,
        command: str,
        *,
        stdin: bytes | None = None,
        become: bool = False,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RunResult: ...

    def put(self, data: bytes | BinaryIO, path: str, *, mode: int = 0o644,
            become: bool = False) -> None: ...

    def get(self, path: str, *, become: bool = False) -> bytes: ...

    def close(self) -> None: ...
