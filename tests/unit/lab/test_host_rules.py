"""Host-side rules and process plumbing, as data: firewall, partitions, cgroups, nspawn."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kboot.errors import LabError
from kboot.lab import system
from kboot.lab.image import mirror_from_sources
from kboot.lab.machine import cgroup_dirs, enter_argv, nspawn_argv
from kboot.lab.network import forward_rules, partition_rules, tagged_rule_deletions
from kboot.lab.spec import LabSpec

IPTABLES_S = """\
-P FORWARD ACCEPT
-A FORWARD -i kblab-a -o kblab-a -m comment --comment kboot-lab:a -j ACCEPT
-A FORWARD -i kblab-a ! -o kblab-a -m comment --comment kboot-lab:a -j DROP
-A FORWARD -i kblab-ab ! -o kblab-ab -m comment --comment kboot-lab:ab -j DROP
-A FORWARD -i docker0 -j ACCEPT
"""


def test_forward_rules_keep_lab_traffic_on_the_bridge() -> None:
    rules = forward_rules(LabSpec("a", 1, 0))
    assert rules[1][:5] == ["-i", "kblab-a", "!", "-o", "kblab-a"] and rules[1][-1] == "DROP"
    assert rules[2][:5] == ["!", "-i", "kblab-a", "-o", "kblab-a"] and rules[2][-1] == "DROP"
    assert all("kboot-lab:a" in r for r in rules)


def test_only_the_labs_own_rules_are_deleted() -> None:
    deletions = tagged_rule_deletions(IPTABLES_S, "kboot-lab:a")
    assert [d[:4] for d in deletions] == [["-D", "FORWARD", "-i", "kblab-a"]] * 2


def test_partition_rules_drop_by_address_and_by_mac() -> None:
    peer = LabSpec("p", 1, 1).nodes[1]
    rules = partition_rules(peer)
    assert ("filter", ["-s", "10.77.0.21", "-j", "DROP"]) in rules
    assert ("filter", ["-d", "10.77.0.21", "-j", "DROP"]) in rules
    assert ("raw", ["-m", "mac", "--mac-source", peer.mac, "-j", "DROP"]) in rules


PROC_CGROUP = """\
9:name=systemd:/
4:memory:/jobs/42
2:cpu,cpuacct:/
0::/
"""
MOUNTINFO = """\
30 25 0:26 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
31 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
32 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
33 25 0:29 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
"""


def test_per_node_cgroups_sit_under_this_process_in_every_hierarchy() -> None:
    assert cgroup_dirs(PROC_CGROUP, MOUNTINFO, "leaf") == [
        Path("/sys/fs/cgroup/systemd/leaf"),
        Path("/sys/fs/cgroup/memory/jobs/42/leaf"),
        Path("/sys/fs/cgroup/cpu,cpuacct/leaf"),
        Path("/sys/fs/cgroup/unified/leaf"),
    ]


def test_nspawn_boots_the_node_in_its_namespace_with_containerd_storage() -> None:
    node = LabSpec("n", 1, 0).nodes[0]
    argv = nspawn_argv(node, Path("/r"), Path("/c"))
    for flag in ("--boot", "--register=no", "--keep-unit", "--capability=all",
                 "--network-namespace-path=/run/netns/kblab-n-cp1", "--machine=n-cp1",
                 "--bind=/c:/var/lib/containerd", "--system-call-filter=@keyring bpf"):
        assert flag in argv
    assert argv[argv.index("-D") + 1] == "/r"


def test_enter_uses_all_the_nodes_namespaces() -> None:
    argv = enter_argv(7, ["hostname"])
    assert argv[:2] == ["nsenter", "--target=7"] and argv[-2:] == ["--", "hostname"]
    assert {"--mount", "--uts", "--net", "--pid"} <= set(argv)


@pytest.mark.parametrize(("texts", "mirror"), [
    (["Types: deb\nURIs: http://m.example/debian\nSuites: bookworm bookworm-updates\n"
      "Components: main\n\nTypes: deb\nURIs: http://m.example/debian-security\n"
      "Suites: bookworm-security\n"], "http://m.example/debian"),
    (["deb http://sec/debian-security bookworm-security main\n"
      "deb [arch=amd64] http://one/debian/ bookworm main\n"], "http://one/debian"),
    (["deb http://x/debian bullseye main\n"], None),
])
def test_mirror_from_apt_sources(texts: list[str], mirror: str | None) -> None:
    assert mirror_from_sources(texts) == mirror


def test_missing_tools_name_their_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    with pytest.raises(LabError, match="apt-get install debootstrap systemd-container"):
        system.require_tools(["systemd-nspawn", "debootstrap"])


def test_not_root_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="needs root"):
        system.require_root()


def test_failed_commands_carry_command_and_output() -> None:
    with pytest.raises(LabError, match=r"exit 3.*sh -c.*\n  boom"):
        system.run(["sh", "-c", "echo boom >&2; exit 3"])
