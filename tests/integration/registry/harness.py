"""The cluster registry's three docker-registry instances as real processes on this machine.

Rendered from kboot's own template (``templates/registry/config.yml.j2``) with a test CA's
certificate and kboot's generated htpasswd files, on free loopback ports; the stores live in a
temporary directory. Skips when Debian's ``docker-registry`` is not installed.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kboot import pki
from kboot.cluster.registry import Credentials, ensure_credentials
from kboot.images.distribution import Endpoint
from kboot.templating import render_string
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[3]
BINARY = Path("/usr/bin/docker-registry")


@dataclass(frozen=True)
class Registry:
    ca_file: Path
    creds: Credentials
    ports: dict[str, int]  # mirror, push, private
    state: Path
    address: str = "127.0.0.1"
    procs: tuple[subprocess.Popen[bytes], ...] = ()

    def stop(self) -> None:
        """The loss of this "control plane": every instance killed."""
        for proc in self.procs:
            proc.kill()
            proc.wait(timeout=10)

    def endpoint(self, instance: str, *, user: str = "push") -> Endpoint:
        address = f"{self.address}:{self.ports[instance]}"
        if instance == "mirror" or user == "anonymous":
            return Endpoint(address, self.ca_file)
        if user == "pull":
            return Endpoint(address, self.ca_file, self.creds.pull_user, self.creds.pull_password)
        return Endpoint(address, self.ca_file, self.creds.push_user, self.creds.push_password)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(address: str, port: int, ca: Path, proc: subprocess.Popen[bytes]) -> None:
    ctx = ssl.create_default_context(cafile=str(ca))

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"https://{address}:{port}/v2/", context=ctx, timeout=2)
        except urllib.error.HTTPError:
            return True  # 401: up, wants credentials
        except OSError:
            return False
        return True

    wait_until(f"docker-registry on {address}:{port}", answers, timeout=30)


@contextlib.contextmanager
def run_registry(tmp: Path, *, address: str = "127.0.0.1", like: Registry | None = None
                 ) -> Iterator[Registry]:
    """Three instances on ``address``; ``like``: another control plane of the same cluster
    (its CA, credentials and ports, a store of its own)."""
    if not BINARY.exists():
        pytest.skip("docker-registry is not installed (scripts/setup.sh installs it)")
    if like is None:
        ca = pki.new_ca("test-ca")
        pki.save_pair(ca, tmp / "pki", "ca")
        creds = ensure_credentials(tmp)
    else:
        loaded = pki.load_pair(like.state / "pki", "ca")
        assert loaded is not None
        ca, creds = loaded, like.creds
        (tmp / "registry").mkdir(parents=True, exist_ok=True)
        for name in ("push.htpasswd", "private.htpasswd"):
            (tmp / "registry" / name).write_bytes((like.state / "registry" / name).read_bytes())
    leaf = pki.issue(ca, pki.CertSpec("kboot-registry", dns_names=("localhost",),
                                      ip_addresses=("127.0.0.1", "127.0.0.2"), server=True))
    pki.save_pair(leaf, tmp / "pki", "registry")
    template = (ROOT / "templates/registry/config.yml.j2").read_text()
    ports = dict(like.ports) if like else {"mirror": free_port(), "push": free_port(),
                                           "private": free_port()}
    layout = {"mirror": ("public", True, ""), "push": ("public", False, "push.htpasswd"),
              "private": ("private", False, "private.htpasswd")}
    ca_file = like.ca_file if like else tmp / "pki/ca.crt"
    procs = []
    try:
        for instance, (store, readonly, htpasswd) in layout.items():
            config = tmp / f"{instance}.yml"
            config.write_text(render_string(template, dict(
                instance=instance, rootdirectory=str(tmp / "store" / store), readonly=readonly,
                addr=f"{address}:{ports[instance]}", http_secret="test-secret",
                certificate=str(tmp / "pki/registry.crt"), key=str(tmp / "pki/registry.key"),
                htpasswd=str(tmp / "registry" / htpasswd) if htpasswd else "")))
            procs.append(subprocess.Popen([str(BINARY), "serve", str(config)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            _wait_ready(address, ports[instance], ca_file, procs[-1])
        yield Registry(ca_file, creds, ports, tmp, address, tuple(procs))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
