"""Host key verification against the kboot-managed known_hosts file.

Policies: ``accept-new`` records the key of a host seen for the first time, ``strict`` refuses
unknown hosts. A *changed* key is refused under both, naming the host, the offered fingerprint,
the file and the command that forgets the old key. Appends are serialised by one lock per file,
so many hosts connecting in parallel never interleave lines.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
from pathlib import Path

import paramiko

from kboot.errors import HostKeyError

log = logging.getLogger(__name__)

_locks_guard = threading.Lock()
_file_locks: dict[str, threading.Lock] = {}


def file_lock(path: str) -> threading.Lock:
    with _locks_guard:
        return _file_locks.setdefault(path, threading.Lock())


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's ``SHA256:…`` fingerprint of a public key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


_parsed: dict[str, tuple[tuple[int, int], paramiko.HostKeys]] = {}


def recorded_keys(path: str, hostname: str) -> dict[str, paramiko.PKey]:
    """The keys ``path`` records for ``hostname`` (``known_hosts_name`` form; hashed entries
    and multi-name lines included), by key type. The file is parsed once while it stays
    unchanged (mtime and size) and shared by every connection of the process: parsing it per
    connection made a run's host-key work grow with the square of its hosts."""
    with file_lock(path):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return {}
        stamp = (st.st_mtime_ns, st.st_size)
        cached = _parsed.get(path)
        if cached is None or cached[0] != stamp:
            keys = paramiko.HostKeys()
            keys.load(path)
            cached = _parsed[path] = (stamp, keys)
    entries = cached[1].lookup(hostname)
    return dict(entries) if entries is not None else {}


class KnownHostsPolicy(paramiko.MissingHostKeyPolicy):
    """What to do with a host absent from ``path``: record it (accept-new) or refuse (strict)."""

    def __init__(self, host: str, path: str, policy: str) -> None:
        self.host = host
        self.path = path
        self.policy = policy

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        if self.policy != "accept-new":
            raise HostKeyError(
                self.host,
                f"unknown host key for {hostname} ({key.get_name()} {fingerprint(key)}) and "
                f"host_key_policy is strict; add the host to {self.path} (e.g. "
                f"`ssh-keyscan -p PORT ADDRESS >> {self.path}` after checking the fingerprint) "
                "or use host_key_policy: accept-new",
            )
        with file_lock(self.path):
            # Another connection may have recorded this host since our copy was loaded.
            current = paramiko.HostKeys()
            if os.path.exists(self.path):
                current.load(self.path)
            entries = current.lookup(hostname)
            recorded = entries.get(key.get_name()) if entries is not None else None
            if recorded is not None and recorded != key:
                raise changed_key_error(self.host, hostname=hostname, offered=key,
                                        path=self.path)
            if recorded is None:
                Path(self.path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
                log.info("%s: recorded new host key %s in %s", self.host, fingerprint(key),
                         self.path)
        client.get_host_keys().add(hostname, key.get_name(), key)


def changed_key_error(
    host: str, *, hostname: str, offered: paramiko.PKey, path: str
) -> HostKeyError:
    return HostKeyError(
        host,
        f"HOST KEY CHANGED for {hostname}: it offered {offered.get_name()} "
        f"{fingerprint(offered)}, which differs from the key recorded in {path}. This may be "
        "an attack, or the host was reinstalled. If you trust the new key, forget the old one "
        f"with `ssh-keygen -R '{hostname}' -f {path}` and connect again.",
    )
