"""The local transport: run on the workstation itself (``transport: local`` hosts).

Commands run with ``/bin/sh -c``; ``become`` uses ``sudo`` when kboot is not already root
(``sudo -n`` without a password, or ``sudo -S -k`` reading the configured password first).
``put`` streams a file object in chunks into a temp file, renamed (or, through sudo,
``install``-ed) into place.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from typing import BinaryIO

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

    def put(self, data: bytes | BinaryIO, path: str, *, mode: int = 0o644,
            become: bool = False) -> None:
        """Write ``data`` to ``path`` atomically: a temp file next to it, renamed; through sudo
        (``become`` when kboot is not root) a temp file of ours, ``install``-ed as root."""
        sudo = self._needs_sudo(become)
        try:
            tmp = _write_temp(data, None if sudo else os.path.dirname(path) or ".")
        except OSError as exc:
            raise TransportError(self.host, f"cannot write {path}: {exc}") from exc
        try:
            if sudo:
                proc = self.execute(f"install -m {mode:o} -- {_q(tmp)} {_q(path)}", become=True)
                if proc.returncode != 0:
                    raise TransportError(self.host, f"cannot write {path}: {proc.stderr!r}")
            else:
                os.chmod(tmp, mode)
                os.replace(tmp, path)
        except OSError as exc:
            raise TransportError(self.host, f"cannot write {path}: {exc}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

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


def _write_temp(data: bytes | BinaryIO, directory: str | None) -> str:
    """A new temp file in ``directory`` holding ``data``; removed again if writing fails."""
    fd, tmp = tempfile.mkstemp(prefix=".kboot-put-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, bytes):
                fh.write(data)
            else:
                shutil.copyfileobj(data, fh)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


_q = shlex.quote
