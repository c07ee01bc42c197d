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
import time
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

ROOT = Path(__file__).resolve().parents[3]
BINARY = Path("/usr/bin/docker-registry")


@dataclass(frozen=True)
class Registry:
    ca_file: Path
    creds: Credentials
    ports: dict[str, int]  # mirror, push, private
    state: Path

    def endpoint(self, instance: str, *, user: str = "push") -> Endpoint:
        address = f"127.0.0.1:{self.ports[instance]}"
        if instance == "mirror" or user == "anonymous":
            return Endpoint(address, self.ca_file)
        if user == "pull":
            return Endpoint(address, self.ca_file, self.creds.pull_user, self.creds.pull_password)
        return Endpoint(address, self.ca_file, self.creds.push_user, self.creds.push_password)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(port: int, ca: Path, proc: subprocess.Popen[bytes]) -> None:
    ctx = ssl.create_default_context(cafile=str(ca))
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"https://127.0.0.1:{port}/v2/", context=ctx, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # 401: up, wants credentials
        except OSError:
            time.sleep(0.05)  # polling a starting process, not synchronising a test
    raise RuntimeError(f"docker-registry on {port} did not answer")


@contextlib.contextmanager
def run_registry(tmp: Path) -> Iterator[Registry]:
    if not BINARY.exists():
        pytest.skip("docker-registry is not installed (scripts/setup.sh installs it)")
    ca = pki.new_ca("test-ca")
    leaf = pki.issue(ca, pki.CertSpec("kboot-registry", dns_names=("localhost",),
                                      ip_addresses=("127.0.0.1",), server=True))
    pki.save_pair(ca, tmp / "pki", "ca")
    pki.save_pair(leaf, tmp / "pki", "registry")
    creds = ensure_credentials(tmp)
    template = (ROOT / "templates/registry/config.yml.j2").read_text()
    ports = {"mirror": free_port(), "push": free_port(), "private": free_port()}
    layout = {"mirror": ("public", True, ""), "push": ("public", False, "push.htpasswd"),
              "private": ("private", False, "private.htpasswd")}
    procs = []
    try:
        for instance, (store, readonly, htpasswd) in layout.items():
            config = tmp / f"{instance}.yml"
            config.write_text(render_string(template, dict(
                instance=instance, rootdirectory=str(tmp / "store" / store), readonly=readonly,
                addr=f"127.0.0.1:{ports[instance]}", http_secret="test-secret",
                certificate=str(tmp / "pki/registry.crt"), key=str(tmp / "pki/registry.key"),
                htpasswd=str(tmp / "registry" / htpasswd) if htpasswd else "")))
            procs.append(subprocess.Popen([str(BINARY), "serve", str(config)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            _wait_ready(ports[instance], tmp / "pki/ca.crt", procs[-1])
        yield Registry(tmp / "pki/ca.crt", creds, ports, tmp)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
