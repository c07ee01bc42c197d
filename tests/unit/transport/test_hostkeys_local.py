"""Fingerprints as OpenSSH prints them, and the local transport."""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko

from kboot.transport import Transport
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
