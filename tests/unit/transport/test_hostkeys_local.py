"""Fingerprints as OpenSSH prints them, and the local transport."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import paramiko
import pytest

from kboot.transport import Transport, hostkeys
from kboot.transport.hostkeys import fingerprint, known_hosts_name
from kboot.transport.local import LocalTransport


def test_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    expected = subprocess.run(["ssh-keygen", "-lf", f"{key}.pub"], capture_output=True,
                              text=True, check=True).stdout.split()[1]
    assert fingerprint(paramiko.Ed25519Key.from_private_key_file(str(key))) == expected


def test_known_hosts_name() -> None:
    assert known_hosts_name("10.0.0.1", 22) == "10.0.0.1"
    assert known_hosts_name("10.0.0.1", 2222) == "[10.0.0.1]:2222"


def test_local_transport(tmp_path: Path) -> None:
    t = LocalTransport("ws")
    assert isinstance(t, Transport)
    r = t.run("cat; echo \"$V\" >&2; exit 2", stdin=b"in", env={"V": "v"})
    assert (r.exit_code, r.stdout, r.stderr) == (2, "in", "v\n")
    assert t.run("id -u", become=True).ok
    path = str(tmp_path / "f")
    t.put(b"data", path, mode=0o600)
    assert t.get(path) == b"data"
    assert oct(Path(path).stat().st_mode & 0o777) == "0o600"
    r = t.run("sleep 5", timeout=0.2)
    assert r.exit_code == 124 and "timed out" in r.stderr


def test_open_transport_picks_by_connection() -> None:
    from kboot.inventory import Connection, Host, HostSecrets
    from kboot.transport import open_transport
    from kboot.transport.ssh import SSHTransport

    local = open_transport(Host("ws", Connection(address="localhost", transport="local")))
    assert isinstance(local, LocalTransport) and local.host == "ws"
    ssh = open_transport(Host("h", Connection(address="10.0.0.1", user="deploy")),
                         secrets={"h": HostSecrets(password="pw", become_password="bpw")})
    assert isinstance(ssh, SSHTransport) and ssh.user == "deploy"
    assert ssh.route[-1].password == "pw"
    assert "pw" not in repr(ssh.route)


def test_recorded_keys_parse_the_file_once_while_it_is_unchanged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connection of a run asks for its host's keys; the file is parsed once, not once
    per host (quadratic in hosts), and again only after it changed. Port-specific names,
    multi-name lines and hashed names are found as paramiko finds them."""
    keys = []
    for i in range(3):
        key_file = tmp_path / f"k{i}"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_file)],
                       check=True)
        keys.append(paramiko.Ed25519Key.from_private_key_file(str(key_file)))
    hashed = paramiko.HostKeys.hash_host("10.0.0.3")
    known = tmp_path / "known_hosts"
    known.write_text(f"10.0.0.1,cp1 ssh-ed25519 {keys[0].get_base64()}\n"
                     f"[10.0.0.2]:2222 ssh-ed25519 {keys[1].get_base64()}\n"
                     f"{hashed} ssh-ed25519 {keys[2].get_base64()}\n")
    loads: list[str] = []
    real_load = paramiko.HostKeys.load

    def counting_load(self: paramiko.HostKeys, filename: str) -> None:
        loads.append(filename)
        real_load(self, filename)

    monkeypatch.setattr(paramiko.HostKeys, "load", counting_load)
    path = str(known)
    assert hostkeys.recorded_keys(path, "10.0.0.1") == {"ssh-ed25519": keys[0]}
    assert hostkeys.recorded_keys(path, "cp1") == {"ssh-ed25519": keys[0]}
    assert hostkeys.recorded_keys(path, "[10.0.0.2]:2222") == {"ssh-ed25519": keys[1]}
    assert hostkeys.recorded_keys(path, "10.0.0.2") == {}
    assert hostkeys.recorded_keys(path, "10.0.0.3") == {"ssh-ed25519": keys[2]}
    assert len(loads) == 1
    with known.open("a") as fh:  # accept-new appends: the next lookup sees it
        fh.write(f"10.0.0.4 ssh-ed25519 {keys[1].get_base64()}\n")
    os.utime(known, ns=(1, 1))
    assert hostkeys.recorded_keys(path, "10.0.0.4") == {"ssh-ed25519": keys[1]}
    assert len(loads) == 2
    assert hostkeys.recorded_keys(str(tmp_path / "missing"), "10.0.0.1") == {}
