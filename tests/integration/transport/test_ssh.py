"""The SSH transport against real sshd hosts (network namespaces, see tests/fixtures/sshd.py)."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kboot.errors import BecomeError, ConnectError, HostKeyError
from kboot.inventory import Connection, JumpHost, load_inventory, resolve_secrets
from kboot.transport import Transport, open_transport
from kboot.transport.ssh import SSHTransport
from tests.fixtures.sshd import SshdHosts
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def conn(hosts: SshdHosts, known_hosts: Path, **kw: object) -> Connection:
    settings: dict[str, object] = {
        "address": hosts.addresses[1], "key_file": str(hosts.client_key),
        "known_hosts": str(known_hosts), "host_key_policy": "strict",
        "connect_timeout": 5.0, "connect_retries": 0,
    }
    settings.update(kw)
    return Connection(**settings)  # type: ignore[arg-type]


@pytest.fixture
def known_hosts(sshd_hosts: SshdHosts, tmp_path: Path) -> Path:
    return sshd_hosts.write_known_hosts(tmp_path / "known_hosts")


@pytest.fixture
def root(sshd_hosts: SshdHosts, known_hosts: Path) -> Iterator[SSHTransport]:
    t = SSHTransport("h1", conn(sshd_hosts, known_hosts))
    yield t
    t.close()


@pytest.fixture
def deploy(sshd_hosts: SshdHosts, known_hosts: Path) -> Iterator[SSHTransport]:
    t = SSHTransport("h1", conn(sshd_hosts, known_hosts, user="kbootdeploy"),
                     become_password=sshd_hosts.deploy_password)
    yield t
    t.close()


def test_run_results_are_values(root: SSHTransport) -> None:
    r = root.run("echo out; echo err >&2; exit 3")
    assert (r.exit_code, r.stdout, r.stderr, r.ok) == (3, "out\n", "err\n", False)
    assert root.run("true").ok


def test_stdin_env_and_timeout(root: SSHTransport) -> None:
    r = root.run("cat; printf '%s' \"$GREETING\"", stdin=b"line 1\nline 2\n",
                 env={"GREETING": "hello 'world'"})
    assert r.stdout == "line 1\nline 2\nhello 'world'"
    assert root.run("cat", timeout=5).stdout == ""  # no stdin: reads /dev/null, no hang
    big = b"x" * (1024 * 1024)
    assert root.run("wc -c", stdin=big).stdout.strip() == str(len(big))
    r = root.run("sleep 10", timeout=0.5)
    assert r.exit_code == 124 and "timed out" in r.stderr  # not 0: it did not sleep it out


def test_put_and_get(root: SSHTransport, tmp_path: Path) -> None:
    path = str(tmp_path / "h1-file")
    root.put(b"payload\x00\xff", path, mode=0o600)
    assert root.get(path) == b"payload\x00\xff"
    assert oct(Path(path).stat().st_mode & 0o777) == "0o600"
    root.put(b"again", path)
    assert Path(path).read_bytes() == b"again"
    assert not [p for p in tmp_path.iterdir() if ".kboot-put-" in p.name]


def test_become_as_root_needs_no_sudo(root: SSHTransport) -> None:
    assert root.run("id -u", become=True).stdout == "0\n"


def test_become_with_password(deploy: SSHTransport, tmp_path: Path) -> None:
    assert deploy.run("id -un").stdout == "kbootdeploy\n"
    r = deploy.run("id -u; cat; echo e >&2; exit 4", become=True, stdin=b"through sudo\n")
    assert (r.exit_code, r.stdout, r.stderr) == (4, "0\nthrough sudo\n", "e\n")
    path = str(tmp_path / "h1-root-owned")
    deploy.put(b"secret\n", path, mode=0o640, become=True)
    st = Path(path).stat()
    assert (st.st_uid, oct(st.st_mode & 0o777)) == (0, "0o640")
    assert deploy.get(path, become=True) == b"secret\n"


def test_wrong_or_missing_become_password(sshd_hosts: SshdHosts, known_hosts: Path) -> None:
    c = conn(sshd_hosts, known_hosts, user="kbootdeploy")
    wrong = SSHTransport("h1", c, become_password="not-the-password")
    with pytest.raises(BecomeError, match="h1: sudo rejected the become password"):
        wrong.run("id -u", become=True)
    assert wrong.run("echo still usable").stdout == "still usable\n"
    wrong.close()
    missing = SSHTransport("h1", c)
    with pytest.raises(BecomeError, match="a password is required"):
        missing.run("id -u", become=True)
    missing.close()


def test_many_concurrent_runs_share_one_connection(deploy: SSHTransport) -> None:
    first = deploy.connect()
    with ThreadPoolExecutor(24) as pool:
        outs = list(pool.map(lambda i: deploy.run(f"echo {i}").stdout, range(60)))
        # stdin offered to commands that exit without reading it must not break the connection
        ignored = list(pool.map(lambda i: deploy.run(f"echo {i}", stdin=b"x" * i).stdout,
                                range(200)))
    assert outs == [f"{i}\n" for i in range(60)]
    assert ignored == [f"{i}\n" for i in range(200)]
    assert deploy.connect() is first
    assert isinstance(deploy, Transport)


def test_jump_host(sshd_hosts: SshdHosts, known_hosts: Path) -> None:
    hidden = sshd_hosts.hidden
    c = conn(sshd_hosts, known_hosts, address=hidden.address, port=hidden.port,
             jump=(JumpHost(sshd_hosts.jump.address),))
    t = SSHTransport("hidden", c)
    assert t.run("echo via jump").stdout == "via jump\n"
    t.close()


def test_proxyjump_from_ssh_config(sshd_hosts: SshdHosts, known_hosts: Path,
                                   tmp_path: Path) -> None:
    hidden = sshd_hosts.hidden
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host bastion\n  HostName {sshd_hosts.jump.address}\n  User root\n"
        f"Host hidden-box\n  HostName {hidden.address}\n  Port {hidden.port}\n"
        f"  User kbootdeploy\n  IdentityFile {sshd_hosts.client_key}\n  ProxyJump bastion\n")
    c = conn(sshd_hosts, known_hosts, address="hidden-box", key_file=None,
             ssh_config=str(config))
    t = SSHTransport("hidden", c)
    assert t.run("id -un").stdout == "kbootdeploy\n"
    t.close()


def test_strict_refuses_unknown_host(sshd_hosts: SshdHosts, tmp_path: Path) -> None:
    t = SSHTransport("h1", conn(sshd_hosts, tmp_path / "empty_known_hosts"))
    pattern = rf"unknown host key for {re.escape(sshd_hosts.addresses[1])}.*strict"
    with pytest.raises(HostKeyError, match=pattern):
        t.run("true")


def _fingerprint(pub: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True,
                         check=True).stdout
    return out.split()[1]


def test_changed_host_key_refused(sshd_hosts: SshdHosts, tmp_path: Path) -> None:
    h1 = sshd_hosts.hosts[1]
    bad = tmp_path / "known_hosts"
    bad.write_text(f"{h1.address} {sshd_hosts.hosts[0].host_key_line}\n")
    for policy in ("strict", "accept-new"):
        t = SSHTransport("h1", conn(sshd_hosts, bad, host_key_policy=policy))
        with pytest.raises(HostKeyError) as info:
            t.run("true")
        message = str(info.value)
        assert message.startswith(f"h1: HOST KEY CHANGED for {h1.address}")
        assert _fingerprint(sshd_hosts.workdir / "hostkey_1.pub") in message
        assert f"ssh-keygen -R '{h1.address}' -f {bad}" in message
    assert bad.read_text().count("\n") == 1  # nothing recorded


def test_accept_new_records_key_once(sshd_hosts: SshdHosts, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "known_hosts"
    c = conn(sshd_hosts, path, host_key_policy="accept-new")
    with ThreadPoolExecutor(4) as pool:
        transports = [SSHTransport(f"t{i}", c) for i in range(4)]
        list(pool.map(lambda t: t.run("true"), transports))
    h1 = sshd_hosts.hosts[1]
    assert path.read_text() == f"{h1.address} {h1.host_key_line}\n"
    strict = SSHTransport("h1", conn(sshd_hosts, path))
    assert strict.run("echo known").stdout == "known\n"
    for t in [*transports, strict]:
        t.close()


def test_unreachable_host_fails_within_timeout(sshd_hosts: SshdHosts, known_hosts: Path) -> None:
    silent = SSHTransport("ghost", conn(sshd_hosts, known_hosts, address=f"{sshd_hosts.subnet}.250",
                                        connect_timeout=1.0))
    with pytest.raises(ConnectError, match="ghost: cannot connect"):
        silent.run("true")
    refused = SSHTransport("closed", conn(sshd_hosts, known_hosts, address="127.0.0.1",
                                          port=1, connect_retries=1))
    with pytest.raises(ConnectError, match=r"closed: cannot connect.*127\.0\.0\.1:1"):
        refused.run("true")


def test_auth_failure_is_connect_error(sshd_hosts: SshdHosts, known_hosts: Path,
                                       tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    t = SSHTransport("h1", conn(sshd_hosts, known_hosts, key_file=str(other)))
    with pytest.raises(ConnectError, match="h1: authentication failed as root"):
        t.run("true")


def test_inventory_to_transport(sshd_hosts: SshdHosts, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = sshd_hosts.write_inventory(tmp_path / "inv.yaml", user="kbootdeploy")
    monkeypatch.setenv("KBOOT_TEST_BECOME_PASSWORD", sshd_hosts.deploy_password)
    inv = load_inventory(path)
    secrets = resolve_secrets(inv, prompt=lambda q: pytest.fail(f"unexpected prompt {q}"))
    results: dict[str, str] = {}
    lock = threading.Lock()

    def work(name: str) -> None:
        t = open_transport(inv.hosts[name], secrets=secrets)
        try:
            out = t.run("id -u; hostname -I", become=True).stdout
        finally:
            t.close()
        with lock:
            results[name] = out

    with ThreadPoolExecutor(len(inv.hosts)) as pool:
        list(pool.map(work, inv.hosts))
    for host in sshd_hosts.hosts:
        assert results[host.name].split() == ["0", host.address]


def test_ansible_inventory_to_transport(sshd_hosts: SshdHosts, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = sshd_hosts.write_ansible_inventory(tmp_path / "hosts.ini", user="kbootdeploy")
    monkeypatch.setenv("KBOOT_TEST_BECOME_PASSWORD", sshd_hosts.deploy_password)
    inv = load_inventory(path)
    secrets = resolve_secrets(inv, prompt=lambda q: pytest.fail(f"unexpected prompt {q}"))
    host = inv.hosts["h2"]
    assert host.connection.host_key_policy == "strict"
    t = open_transport(host, secrets=secrets)
    try:
        assert t.run("id -u", become=True).stdout == "0\n"
    finally:
        t.close()


def test_reconnects_after_the_connection_drops(sshd_hosts: SshdHosts, known_hosts: Path) -> None:
    t = SSHTransport("h2", conn(sshd_hosts, known_hosts, address=sshd_hosts.addresses[2],
                                user="kbootdeploy"))
    first = t.connect()
    first.sock.shutdown(socket.SHUT_RDWR)  # the network drops the TCP connection
    wait_until("paramiko to notice the drop", lambda: not first.is_active(), timeout=30,
               interval=0.05)
    assert t.run("echo back").stdout == "back\n"
    assert t.connect() is not first
    t.close()


def test_password_login(sshd_hosts: SshdHosts, known_hosts: Path) -> None:
    c = conn(sshd_hosts, known_hosts, user="kbootdeploy", key_file=None)
    t = SSHTransport("h1", c, password=sshd_hosts.deploy_password,
                     become_password=sshd_hosts.deploy_password)
    assert t.run("id -un; sudo -k", become=False).stdout == "kbootdeploy\n"
    assert t.run("id -u", become=True).stdout == "0\n"
    t.close()
    wrong = SSHTransport("h1", c, password="wrong-password")
    with pytest.raises(ConnectError, match="authentication failed as kbootdeploy"):
        wrong.run("true")


def test_hosts_behind_one_jump_share_its_connection(sshd_hosts: SshdHosts,
                                                    known_hosts: Path) -> None:
    from kboot.transport.jumppool import POOL

    hidden = sshd_hosts.hidden
    jump = (JumpHost(sshd_hosts.jump.address, user="root"),)  # same hop for both
    a = SSHTransport("hidden-a", conn(sshd_hosts, known_hosts, address=hidden.address,
                                      port=hidden.port, jump=jump))
    b = SSHTransport("hidden-b", conn(sshd_hosts, known_hosts, address=hidden.address,
                                      port=hidden.port, jump=jump, user="kbootdeploy"))
    before = len(POOL)
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda t: t.run("id -un").stdout, [a, b]))
    assert outs == ["root\n", "kbootdeploy\n"]
    assert len(POOL) == before + 1  # one bastion connection for both
    via_a = a._clients[0]
    assert via_a is b._clients[0]
    a.close()
    assert via_a.get_transport() is not None and via_a.get_transport().is_active()
    assert b.run("echo still").stdout == "still\n"
    b.close()
    assert len(POOL) == before
    closed = via_a.get_transport()
    assert closed is None or not closed.is_active()


def test_an_aead_cipher_is_negotiated(root: SSHTransport) -> None:
    """AES-GCM first (packets authenticated inside the cipher, not by a MAC compared in
    Python); OpenSSH offers it, so it is what the connection uses."""
    from kboot.transport.ssh import connect_or_raise

    assert root.run("true").ok
    t = connect_or_raise(root)
    assert t.local_cipher == t.remote_cipher == "aes128-gcm@openssh.com"
