"""The SSH transport: one persistent paramiko connection per host, many channels on it.

Every ``run`` opens one exec channel on the shared connection (no pty, no per-command SFTP, no
``sudo -v``), so a command costs one channel-open and one exec round trip. Concurrent calls are
safe; at most ``max_sessions`` (default 6) exec channels are open at once: OpenSSH's
``MaxSessions`` is 10, one goes to SFTP, and the server frees a channel a moment after we close
it (opens it refuses meanwhile are retried: nothing has run yet). Connecting (through jump hosts
if any) is the only other thing retried; commands never are. Files go over one SFTP session,
a file object in pipelined requests of :data:`CHUNK` bytes (never read whole).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shlex
import shutil
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any, BinaryIO

import paramiko

from kboot.errors import ConnectError, HostKeyError, TransportError
from kboot.transport.base import RunResult
from kboot.transport.channel import Outcome, Sudo, exchange, shell_line
from kboot.transport.hostkeys import (
    KnownHostsPolicy,
    changed_key_error,
    known_hosts_name,
    recorded_keys,
)
from kboot.transport.jumppool import POOL
from kboot.transport.retry import channel_open_policy, with_connect_retries
from kboot.transport.route import Hop, resolve_route
from kboot.transport.target import ConnectionSpec

log = logging.getLogger(__name__)
CHUNK = 32768  # paramiko's largest SFTP write request


class _RetriedOpenFilter(logging.Filter):
    """paramiko logs every refused channel open as an ERROR; we retry those, so drop them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "open FAILED" not in record.getMessage()


logging.getLogger("paramiko.transport").addFilter(_RetriedOpenFilter())

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class _QuickAckSocket(socket.socket):
    """A socket that acknowledges every segment at once (``TCP_QUICKACK`` after each recv).

    OpenSSH does not set ``TCP_NODELAY`` on non-interactive sessions, so its small replies
    (e.g. the channel-open confirmation right after its post-auth messages) wait under Nagle
    until we ACK; with Linux's delayed ACKs that costs ~40 ms on a round trip. The kernel
    drops quick-ack mode on its own, hence the re-arm on every recv (one cheap setsockopt)."""

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        if _QUICKACK is not None:
            self.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        return data


# AES-GCM first: an AEAD cipher authenticates each packet inside the cipher (C, in
# ``cryptography``), where paramiko's default aes-ctr + hmac-sha2 compares every packet's MAC
# byte by byte in Python. Servers without it still get the other ciphers.
_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
            *(c for c in getattr(paramiko.Transport, "_preferred_ciphers", ()) if "gcm" not in c))


def _aead_first_transport(sock: Any, /, *, gss_kex: bool = False, gss_deleg_creds: bool = True,
                          disabled_algorithms: Mapping[str, Iterable[str]] | None = None
                          ) -> paramiko.Transport:
    """``SSHClient.connect``'s transport factory (paramiko 4 has no GSS: those are ignored)."""
    t = paramiko.Transport(sock, disabled_algorithms=disabled_algorithms)
    setattr(t, "_preferred_ciphers", _CIPHERS)  # noqa: B010 - paramiko reads it per instance
    return t


class SSHTransport:
    """:class:`kboot.transport.base.Transport` over SSH. Connects lazily, on first use."""

    def __init__(self, host: str, conn: ConnectionSpec, *, password: str | None = None,
                 become_password: str | None = None, max_sessions: int = 6) -> None:
        self.host = host
        self._conn = conn
        self._become_password = become_password
        self._route = resolve_route(host, conn, password=password)
        self._known_hosts = os.path.expanduser(conn.known_hosts)
        self._clients: list[paramiko.SSHClient] = []  # shared jump clients, then the host's
        self._jump_keys: list[tuple[object, ...]] = []  # what we hold in the jump pool
        self._lock = threading.Lock()
        self._sessions = threading.BoundedSemaphore(max_sessions)
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_lock = threading.Lock()
        token = secrets.token_hex(8)
        self._sudo_markers = (f"[kboot-sudo:{token}]", f"[kboot-ready:{token}]")

    @property
    def user(self) -> str:
        return self._route[-1].user

    @property
    def route(self) -> tuple[Hop, ...]:
        """Every hop to the host, jump hosts first (passwords masked in ``repr``)."""
        return tuple(self._route)

    # -- connection -----------------------------------------------------------------------
    def connect(self) -> paramiko.Transport:
        """The live connection, (re)connecting if needed; raises ConnectError/HostKeyError."""
        with self._lock:
            if self._clients:
                t = self._clients[-1].get_transport()
                if t is not None and t.is_active():
                    return t
                self._close_clients()
            self._clients = with_connect_retries(self._conn.connect_retries, self._connect_chain)
            t = self._clients[-1].get_transport()
            assert t is not None
            return t

    def _connect_chain(self) -> list[paramiko.SSHClient]:
        """Jump hops come from the shared pool; the host's own connection is ours alone."""
        clients: list[paramiko.SSHClient] = []
        try:
            for i, hop in enumerate(self._route[:-1]):
                key = (self._known_hosts, self._conn.host_key_policy, *self._route[: i + 1])
                via = clients[-1] if clients else None
                clients.append(POOL.acquire(key, partial(self._connect_hop, hop, via)))
                self._jump_keys.append(key)
            clients.append(self._connect_hop(self._route[-1], clients[-1] if clients else None))
        except BaseException:
            self._release_jumps()
            raise
        return clients

    def _release_jumps(self) -> None:
        for key in reversed(self._jump_keys):
            POOL.release(key)
        self._jump_keys = []

    def _open_sock(
        self, hop: Hop, via: paramiko.SSHClient | None
    ) -> socket.socket | paramiko.Channel:
        timeout = self._conn.connect_timeout
        if via is None:
            plain = socket.create_connection((hop.address, hop.port), timeout=timeout)
            sock = _QuickAckSocket(plain.family, plain.type, plain.proto, fileno=plain.detach())
            sock.settimeout(timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        t = via.get_transport()
        assert t is not None
        return t.open_channel("direct-tcpip", (hop.address, hop.port), ("127.0.0.1", 0),
                              timeout=timeout)

    def _connect_hop(self, hop: Hop, via: paramiko.SSHClient | None) -> paramiko.SSHClient:
        timeout = self._conn.connect_timeout
        sock = self._open_sock(hop, via)
        client = paramiko.SSHClient()
        name = known_hosts_name(hop.address, hop.port)
        for keytype, key in recorded_keys(self._known_hosts, name).items():
            client.get_host_keys().add(name, keytype, key)
        client.set_missing_host_key_policy(
            KnownHostsPolicy(self.host, self._known_hosts, self._conn.host_key_policy))
        key_file = os.path.expanduser(hop.key_file) if hop.key_file else None
        try:
            client.connect(
                hop.address, port=hop.port, username=hop.user, password=hop.password,
                key_filename=key_file, look_for_keys=key_file is None,
                allow_agent=key_file is None,  # a given key: no agent keys tried first
                sock=sock, timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                channel_timeout=timeout, compress=False, transport_factory=_aead_first_transport,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise changed_key_error(self.host, hostname=known_hosts_name(hop.address, hop.port),
                                    offered=exc.key, path=self._known_hosts) from None
        except BaseException:
            client.close()
            raise
        t = client.get_transport()
        assert t is not None
        t.set_keepalive(30)
        log.debug("%s: connected to %s", self.host, hop.label)
        return client

    def _close_clients(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        if self._clients:
            self._clients[-1].close()
        self._release_jumps()
        self._clients = []

    def close(self) -> None:
        with self._lock:
            self._close_clients()

    # -- commands -------------------------------------------------------------------------
    def _sudo(self, become: bool) -> Sudo | None:
        if not become or self.user == "root":
            return None
        return Sudo(*self._sudo_markers, password=self._become_password)

    def execute(self, command: str, *, stdin: bytes | None = None, become: bool = False,
                timeout: float | None = None, env: Mapping[str, str] | None = None) -> Outcome:
        """Like :meth:`run` but with raw bytes outputs."""
        sudo = self._sudo(become)
        line = shell_line(command, env=env, sudo=sudo, stdin=stdin is not None)
        t = connect_or_raise(self)
        with self._sessions:
            try:
                chan = channel_open_policy()(t.open_session, timeout=self._conn.connect_timeout)
                chan.exec_command(line)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise TransportError(self.host, f"cannot start command: {exc}") from exc
            try:
                return exchange(self.host, chan, stdin=stdin, sudo=sudo, timeout=timeout)
            finally:
                chan.close()

    def run(self, command: str, *, stdin: bytes | None = None, become: bool = False,
            timeout: float | None = None, env: Mapping[str, str] | None = None) -> RunResult:
        """Run ``command``; its exit code and output are values. After ``timeout`` the channel
        is closed and exit code 124 returned (the remote process may outlive it: wrap the
        command in ``timeout(1)`` when it must die)."""
        start = time.monotonic()
        o = self.execute(command, stdin=stdin, become=become, timeout=timeout, env=env)
        return RunResult(command=command, exit_code=o.exit_code,
                         stdout=o.stdout.decode(errors="replace"),
                         stderr=o.stderr.decode(errors="replace"),
                         duration=time.monotonic() - start)

    # -- files ----------------------------------------------------------------------------
    def _sftp_client(self) -> paramiko.SFTPClient:
        t = connect_or_raise(self)
        if self._sftp is None or self._sftp.get_channel() is None or \
                self._sftp.get_channel().closed:  # type: ignore[union-attr]
            client = channel_open_policy()(paramiko.SFTPClient.from_transport, t)
            assert client is not None
            self._sftp = client
        return self._sftp

    def _sftp_write(self, path: str, data: bytes | BinaryIO, mode: int) -> None:
        """Write ``path`` (a new temp name), removed again when the write fails."""
        with self._sftp_lock:
            sftp = self._sftp_client()
            try:
                with sftp.open(path, "wb") as fh:
                    fh.set_pipelined(True)
                    if isinstance(data, bytes):
                        fh.write(data)
                    else:
                        shutil.copyfileobj(data, fh, CHUNK)
                    fh.chmod(mode)
            except BaseException:
                with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                    sftp.remove(path)
                raise

    def put(self, data: bytes | BinaryIO, path: str, *, mode: int = 0o644,
            become: bool = False) -> None:
        """Write ``data`` (bytes, or a file object streamed in chunks) to ``path`` atomically
        (temp file + rename); as root via sudo when ``become`` and the login user is not root
        (upload to /tmp, then ``install``)."""
        tmp_name = f".kboot-put-{secrets.token_hex(6)}"
        try:
            if self._sudo(become) is None:
                tmp = os.path.join(os.path.dirname(path) or ".", tmp_name)
                self._sftp_write(tmp, data, mode)
                with self._sftp_lock:
                    self._sftp_client().posix_rename(tmp, path)
                return
            tmp = f"/tmp/{tmp_name}"
            self._sftp_write(tmp, data, 0o600)
        except OSError as exc:
            raise TransportError(self.host, f"cannot write {path}: {exc}") from exc
        q = shlex.quote
        res = self.execute(f"install -m {mode:o} {q(tmp)} {q(path)}; rc=$?; rm -f {q(tmp)}; "
                           "exit $rc", become=True)
        if res.exit_code != 0:
            raise TransportError(self.host, f"cannot write {path}: "
                                 f"{res.stderr.decode(errors='replace').strip()}")

    def get(self, path: str, *, become: bool = False) -> bytes:
        if self._sudo(become) is not None:
            res = self.execute(f"cat -- {shlex.quote(path)}", become=True)
            if res.exit_code != 0:
                raise TransportError(self.host, f"cannot read {path}: "
                                     f"{res.stderr.decode(errors='replace').strip()}")
            return res.stdout
        try:
            with self._sftp_lock, self._sftp_client().open(path, "rb") as fh:
                fh.prefetch()
                return fh.read()
        except OSError as exc:
            raise TransportError(self.host, f"cannot read {path}: {exc}") from exc


def connect_or_raise(transport: SSHTransport) -> paramiko.Transport:
    """``transport.connect()`` with every failure mapped to :class:`ConnectError`."""
    try:
        return transport.connect()
    except (HostKeyError, ConnectError):
        raise
    except paramiko.AuthenticationException as exc:
        raise ConnectError(transport.host, f"authentication failed as {transport.user}: "
                           f"{exc}") from exc
    except (OSError, EOFError, paramiko.SSHException) as exc:
        hops = " -> ".join(h.label for h in transport.route)
        raise ConnectError(transport.host, f"cannot connect ({hops}): "
                           f"{type(exc).__name__}: {exc}") from exc
