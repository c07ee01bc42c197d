"""The local transport: run on the workstation itself (``transport: local`` hosts).

Commands run with ``/bin/sh -c``; ``become`` uses ``sudo`` when kboot is not already root
(``sudo -n`` without a password, or ``sudo -S -k`` reading the configured password first).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Mapping

from kboot.errors import BecomeError, TransportError
from kboot.transport.base import RunResult

TIMEOUT_EXIT = 124


class LocalTransport:
    """:class:`kboot.transport.base.Transport` for the machine kboot runs on."""

    def __init__(self, host: str = "localhost", *, become_password: str | None = None) -> None:
        self.host = host
        self._become_password = become_password

    def _needs_sudo(self, become: bool) -> bool:
        return become and os.geteuid() != 0

    def _argv(self, command: str, become: bool) -> tuple[list[str], bytes]:
        if not self._needs_sudo(become):
            return ["/bin/sh", "-c", command], b""
        if self._become_password is None:
            return ["sudo", "-n", "--", "/bin/sh", "-c", command], b""
        return (["sudo", "-S", "-k", "-p", "", "--", "/bin/sh", "-c", command],
                self._become_password.encode() + b"\n")

    def execute(self, command: str, *, stdin: bytes | None = None, become: bool = False,
                timeout: float | None = None, env: Mapping[str, str] | None = None,
                ) -> subprocess.CompletedProcess[bytes]:
        argv, prefix = self._argv(command, become)
        full_env = {**os.environ, **(env or {})}
        try:
            proc = subprocess.run(argv, input=prefix + (stdin or b""), capture_output=True,
                                  timeout=timeout, env=full_env, check=False)
        except subprocess.TimeoutExpired as exc:
            note = f"\nkboot: command timed out after {timeout:g}s\n".encode()
            return subprocess.CompletedProcess(argv, TIMEOUT_EXIT, exc.stdout or b"",
                                               (exc.stderr or b"") + note)
        except OSError as exc:
            raise TransportError(self.host, f"cannot run {argv[0]}: {exc}") from exc
        if self._needs_sudo(become) and proc.returncode != 0 and \
                proc.stderr.startswith(b"sudo:"):
            raise BecomeError(self.host, "sudo refused: " + proc.stderr.decode(errors="replace"))
        return proc

    def run(self, command: str, *, stdin: bytes | None = None, become: bool = False,
            timeout: float | None = None, env: Mapping[str, str] | None = None) -> RunResult:
        start = time.monotonic()
        proc = self.execute(command, stdin=stdin, become=become, timeout=timeout, env=env)
        return RunResult(command=command, exit_code=proc.returncode,
                         stdout=proc.stdout.decode(errors="replace"),
                         stderr=proc.stderr.decode(errors="replace"),
                         duration=time.monotonic() - start)

    def put(self, data: bytes, path: str, *, mode: int = 0o644, become: bool = False) -> None:
        if self._needs_sudo(become):
            proc = self.execute(f"cat > {_q(path)} && chmod {mode:o} {_q(path)}", stdin=data,
                                become=True)
            if proc.returncode != 0:
                raise TransportError(self.host, f"cannot write {path}: {proc.stderr!r}")
            return
        try:
            fd, tmp = tempfile.mkstemp(prefix=".kboot-put-", dir=os.path.dirname(path) or ".")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except OSError as exc:
            raise TransportError(self.host, f"cannot write {path}: {exc}") from exc

    def get(self, path: str, *, become: bool = False) -> bytes:
        if self._needs_sudo(become):
            proc = self.execute(f"cat -- {_q(path)}", become=True)
            if proc.returncode != 0:
                raise TransportError(self.host, f"cannot read {path}: {proc.stderr!r}")
            return proc.stdout
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise TransportError(self.host, f"cannot read {path}: {exc}") from exc

    def close(self) -> None:
        """Nothing to release."""


_q = shlex.quote
