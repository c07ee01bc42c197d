"""One command on one SSH exec channel: the command line, stdin, sudo, and reading both streams.

``sudo`` runs without a pty: ``sudo -S -p <prompt marker>`` reads the password from stdin, and the
wrapped shell first writes a *ready marker* to stderr. Everything on stderr before that marker
belongs to sudo (its prompt, "Sorry, try again."), so the caller's stdin is sent only once sudo
has accepted, a second prompt means a wrong password, and exiting before the marker means sudo
refused. No extra round trip: the markers travel on the command's own stderr.
"""

from __future__ import annotations

import re
import select
import shlex
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import paramiko

from kboot.errors import BecomeError, TransportError, tail
from kboot.transport.ordered import send_data, send_eof

TIMEOUT_EXIT = 124  # as timeout(1): the command ran out of time
SCRIPT_SHELL = "/bin/sh -s"  # runs a script sent on stdin: the login shell can exec it as it is
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CHUNK = 65536
_THREADED_STDIN = 256 * 1024  # send larger stdin from a thread so outputs keep draining


@dataclass(frozen=True)
class Sudo:
    """How to escalate: markers are unique per connection; no password means ``sudo -n``."""

    prompt: str
    ready: str
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False


def shell_line(command: str, *, env: Mapping[str, str] | None, sudo: Sudo | None,
               stdin: bool = True) -> str:
    """The exec request: ``/bin/sh -c`` around ``command``, with env exports and sudo.

    Without ``stdin`` the command reads /dev/null, so nothing (not even EOF) is sent on the
    channel after the exec request (see :mod:`.ordered` for why sending late is delicate).
    :data:`SCRIPT_SHELL` alone goes unwrapped (any login shell runs that line; bash execs it),
    else as ``exec``: dash forks for the last command of ``-c``, and on a busy host every process
    counts."""
    exports = "" if stdin else "exec </dev/null; "
    for name, value in (env or {}).items():
        if not _ENV_NAME.match(name):
            raise ValueError(f"invalid environment variable name {name!r}")
        exports += f"export {name}={shlex.quote(value)}; "
    if command == SCRIPT_SHELL:
        if not exports and sudo is None:
            return command
        command = "exec " + command
    if sudo is None:
        return "/bin/sh -c " + shlex.quote(exports + command)
    inner = f"printf '%s' {shlex.quote(sudo.ready)} >&2; {exports}{command}"
    auth = f"-S -p {shlex.quote(sudo.prompt)}" if sudo.password is not None else "-n"
    return f"sudo {auth} -H -- /bin/sh -c {shlex.quote(inner)}"


class _Exchange:
    """Drives one started channel to completion."""

    def __init__(self, host: str, chan: paramiko.Channel, *, stdin: bytes | None,
                 sudo: Sudo | None) -> None:
        self.host = host
        self.chan = chan
        self.stdin = stdin
        self.sudo = sudo
        self.out = bytearray()
        self.err = bytearray()
        self.ready = sudo is None
        self.password_sent = False

    def start(self) -> None:
        if self.ready:
            self._send_stdin()

    def _send_stdin(self) -> None:
        if self.stdin is None:
            return  # the command reads /dev/null (see shell_line)
        data = self.stdin
        if len(data) > _THREADED_STDIN:
            threading.Thread(target=self._send_all, args=(data,), daemon=True).start()
        else:
            self._send_all(data)

    def _send_all(self, data: bytes) -> None:
        try:
            if send_data(self.chan, data):
                send_eof(self.chan)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the connection went away; the command's outcome reports it

    def _check_sudo(self) -> None:
        assert self.sudo is not None
        ready = self.sudo.ready.encode()
        idx = self.err.find(ready)
        if idx >= 0:
            del self.err[: idx + len(ready)]
            self.ready = True
            self._send_stdin()
            return
        prompts = self.err.count(self.sudo.prompt.encode())
        if prompts == 1 and not self.password_sent and self.sudo.password is not None:
            send_data(self.chan, self.sudo.password.encode() + b"\n")
            self.password_sent = True
        elif prompts > 1:
            self.chan.close()
            raise BecomeError(self.host, "sudo rejected the become password (wrong password?)")

    def drain(self) -> None:
        while self.chan.recv_ready():
            self.out += self.chan.recv(_CHUNK)
        got_err = False
        while self.chan.recv_stderr_ready():
            self.err += self.chan.recv_stderr(_CHUNK)
            got_err = True
        if got_err and not self.ready:
            self._check_sudo()

    def finished(self) -> bool:
        # sshd may send exit-status before the last output: only EOF (or close) ends the data.
        return (
            bool(self.chan.eof_received or self.chan.closed)
            and self.chan.exit_status_ready()
            and not self.chan.recv_ready()
            and not self.chan.recv_stderr_ready()
        )

    def outcome(self, *, timed_out: bool = False) -> Outcome:
        if not self.ready and not timed_out:
            detail = self.err.decode(errors="replace")
            if self.sudo is not None:
                detail = detail.replace(self.sudo.prompt, "")
            raise BecomeError(self.host, "sudo refused: " + (tail(detail, 5) or "no output"))
        code = TIMEOUT_EXIT if timed_out else self.chan.recv_exit_status()
        transport = self.chan.get_transport()
        if code == -1 and not timed_out and (transport is None or not transport.is_active()):
            raise TransportError(self.host, "connection lost while the command ran; it may or "
                                 "may not have completed")
        return Outcome(code, bytes(self.out), bytes(self.err), timed_out)


def exchange(host: str, chan: paramiko.Channel, *, stdin: bytes | None, sudo: Sudo | None,
             timeout: float | None) -> Outcome:
    """Run the already-requested command on ``chan`` to its end (or ``timeout``)."""
    ex = _Exchange(host, chan, stdin=stdin, sudo=sudo)
    ex.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    fd = chan.fileno()
    while True:
        ex.drain()
        if ex.finished():
            return ex.outcome()
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            chan.close()
            timed = ex.outcome(timed_out=True)
            note = f"\nkboot: command timed out after {timeout:g}s\n".encode()
            return Outcome(timed.exit_code, timed.stdout, timed.stderr + note, True)
        if chan.eof_received:
            chan.status_event.wait(remaining)
        else:
            select.select([fd], [], [], remaining)
