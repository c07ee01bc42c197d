"""The benchmark's hosts and the three tools' inventories for them.

Hosts are the network-namespace sshd hosts of ``tests/fixtures/sshd.py`` (one sshd per namespace,
its own host key, real TCP over a veth pair and a bridge). Every tool logs in as the fixture's
unprivileged ``kbootdeploy`` user (a clean ``/bin/bash`` account, no become): root's login shell
on a workstation may source a slow ``.bashrc`` that would bill every exec of every tool. The
hosts share the workstation's filesystem, so each host works under its own root
``/tmp/kbt-bench/<host>`` passed to all tools as the host variable ``bench_root``.
"""

from __future__ import annotations

import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.fixtures.sshd import SshdHosts

BENCH_ROOT = Path("/tmp/kbt-bench")
USER = "kbootdeploy"


@dataclass(frozen=True)
class Inventories:
    """One inventory per tool over the same ``n`` hosts."""

    n: int
    kboot: Path
    ansible: Path
    pyinfra: Path
    known_hosts: Path


def reset_roots() -> None:
    """A clean state: an empty ``/tmp/kbt-bench`` owned by the login user."""
    shutil.rmtree(BENCH_ROOT, ignore_errors=True)
    BENCH_ROOT.mkdir(mode=0o755)
    entry = pwd.getpwnam(USER)
    shutil.chown(BENCH_ROOT, entry.pw_uid, entry.pw_gid)


def host_root(name: str) -> str:
    return str(BENCH_ROOT / name)


def write_inventories(hosts: SshdHosts, n: int, workdir: Path) -> Inventories:
    """Inventories of the first ``n`` hosts for kboot (YAML), Ansible (INI) and pyinfra (.py),
    all trusting exactly the fixture's host keys (strict checking everywhere)."""
    chosen = hosts.hosts[:n]
    workdir.mkdir(parents=True, exist_ok=True)
    known = hosts.write_known_hosts(workdir / "known_hosts")
    kboot_doc = {
        "connection": {"user": USER, "key_file": str(hosts.client_key),
                       "host_key_policy": "strict", "known_hosts": str(known),
                       "connect_timeout": 10, "connect_retries": 1},
        "hosts": {h.name: {"address": h.address, "vars": {"bench_root": host_root(h.name)}}
                  for h in chosen},
        "groups": {"bench": {"hosts": [h.name for h in chosen]}},
    }
    kboot = workdir / "inventory.yaml"
    kboot.write_text(yaml.safe_dump(kboot_doc, sort_keys=False))
    lines = ["[bench]"]
    lines += [f"{h.name} ansible_host={h.address} bench_root={host_root(h.name)}" for h in chosen]
    lines += ["", "[all:vars]", f"ansible_user={USER}",
              f"ansible_ssh_private_key_file={hosts.client_key}",
              f"ansible_ssh_common_args=-o UserKnownHostsFile={known} "
              "-o StrictHostKeyChecking=yes",
              "ansible_python_interpreter=/usr/bin/python3"]
    ansible = workdir / "inventory.ini"
    ansible.write_text("\n".join(lines) + "\n")
    entries = [
        f"    ({h.address!r}, {{'inventory_hostname': {h.name!r}, "
        f"'bench_root': {host_root(h.name)!r}}}),"
        for h in chosen
    ]
    pyinfra = workdir / "inventory.py"
    pyinfra.write_text(
        "bench = (\n    [\n" + "\n".join(entries) + "\n    ],\n"
        f"    {{'ssh_user': {USER!r}, 'ssh_key': {str(hosts.client_key)!r},\n"
        f"     'ssh_known_hosts_file': {str(known)!r},\n"
        "     'ssh_strict_host_key_checking': 'yes'},\n)\n"
    )
    return Inventories(n, kboot, ansible, pyinfra, known)
