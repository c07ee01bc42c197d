"""Lab machines on the shared session lab (1 control plane + 1 worker): boot, SSH, identity,
partitions, stop/start/kill, containerd. Every test leaves the lab as it found it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kboot.images import build_busybox
from kboot.inventory import load_inventory
from kboot.lab import Lab
from kboot.transport import open_transport
from tests.fixtures.lab import LabFactory, Shape
from tests.integration.lab.helpers import can_reach, debs_for, ssh

pytestmark = pytest.mark.lab
LABS = (Shape(1, 1),)


@pytest.fixture(scope="module")
def lab2(lab_factory: LabFactory) -> Lab:
    return lab_factory(1, 1)


def test_machines_boot_with_distinct_identities_reachable_over_ssh(lab2: Lab) -> None:
    seen = {}
    for node in lab2.nodes:
        rc, out = ssh(lab2, node.name,
                      "hostname; hostname -I; cat /proc/1/comm; cat /etc/machine-id")
        assert rc == 0
        hostname, ips, init, machine_id = out.split("\n")[:4]
        assert hostname == node.name
        assert ips.split() == [node.address]
        assert init == "systemd"
        seen[node.name] = machine_id
    assert len(set(seen.values())) == len(lab2.nodes)
    assert [s.state for s in lab2.status()] == ["running", "running"]


def test_inventory_points_at_the_machines(lab2: Lab) -> None:
    doc = yaml.safe_load(lab2.inventory_path.read_text())
    assert doc["connection"]["host_key_policy"] == "strict"
    assert Path(doc["connection"]["known_hosts"]) == lab2.known_hosts
    assert {h: v["address"] for h, v in doc["hosts"].items()} == {
        n.name: n.address for n in lab2.nodes}
    known = {line.split()[0] for line in lab2.known_hosts.read_text().splitlines()}
    assert known == {n.address for n in lab2.nodes}


def test_nodes_have_no_route_out_but_a_default_route_via_the_bridge(lab2: Lab) -> None:
    route = lab2.exec("cp1", ["ip", "route", "show", "default"], check=True).stdout
    assert f"via {lab2.spec.gateway}" in route


def test_kernel_modules_kboot_loads_are_available_in_nodes(lab2: Lab) -> None:
    res = lab2.exec("cp1", ["modprobe", "-a", "br_netfilter", "overlay"])
    assert res.exit_code == 0, res.stderr
    assert lab2.exec("cp1", ["modprobe", "no_such_module_kboot"]).exit_code != 0


def test_partition_blocks_both_ways_and_heal_restores(lab2: Lab) -> None:
    assert can_reach(lab2, "cp1", "w1") and can_reach(lab2, "w1", "cp1")
    try:
        lab2.partition("cp1", ["w1"])
        assert not can_reach(lab2, "cp1", "w1")
        assert not can_reach(lab2, "w1", "cp1")
        assert ssh(lab2, "w1", "true")[0] == 0  # the host still reaches both
    finally:
        lab2.heal()
    assert can_reach(lab2, "cp1", "w1") and can_reach(lab2, "w1", "cp1")


def test_partition_defaults_to_every_other_node_and_survives_a_restart(lab2: Lab) -> None:
    try:
        lab2.partition("w1")
        lab2.stop("w1")
        lab2.start("w1")
        assert not can_reach(lab2, "w1", "cp1")
    finally:
        lab2.heal()
    assert can_reach(lab2, "w1", "cp1")


def test_stop_and_start_keep_the_disk(lab2: Lab) -> None:
    ssh(lab2, "w1", "echo kept > /root/marker")
    lab2.stop("w1")
    try:
        assert {s.name: s.state for s in lab2.status()}[f"{lab2.name}-w1"] == "stopped"
        assert not can_reach(lab2, "cp1", "w1")
    finally:
        lab2.start("w1")
    assert ssh(lab2, "w1", "cat /root/marker") == (0, "kept\n")


def test_kill_is_a_hard_power_off(lab2: Lab) -> None:
    pid = {s.name: s.pid for s in lab2.status()}[f"{lab2.name}-w1"]
    assert pid is not None
    lab2.kill("w1")
    try:
        assert not Path(f"/proc/{pid}").exists()
        assert {s.name: s.state for s in lab2.status()}[f"{lab2.name}-w1"] == "stopped"
    finally:
        lab2.start("w1")
    assert ssh(lab2, "w1", "hostname") == (0, f"{lab2.name}-w1\n")


def test_a_container_runs_under_containerd_in_a_node(lab2: Lab, tmp_path: Path) -> None:
    installed = set(lab2.exec("w1", ["dpkg-query", "-W", "-f=${Package}\\n"],
                              check=True).stdout.split())
    for deb in debs_for(["containerd", "runc"], installed):
        lab2.put("w1", deb.read_bytes(), f"/var/tmp/debs/{deb.name}")
    lab2.exec("w1", ["sh", "-c", "dpkg -i /var/tmp/debs/*.deb"], timeout=300, check=True)
    image = build_busybox(tmp_path / "busybox.tar", name="kboot.io/labtest/busybox:1")
    lab2.put("w1", (tmp_path / "busybox.tar").read_bytes(), "/var/tmp/busybox.tar")
    lab2.exec("w1", ["ctr", "-n", "labtest", "image", "import", "/var/tmp/busybox.tar"],
              check=True)
    run = lab2.exec("w1", ["ctr", "-n", "labtest", "run", "--rm", image.name, "t1",
                           "sh", "-c", "echo hello from a container; cat /proc/self/cgroup"],
                    timeout=120, check=True)
    assert run.stdout.startswith("hello from a container\n")
    assert "memory:/labtest/t1" in run.stdout  # in the node's own cgroup tree
    fs = lab2.exec("w1", ["stat", "-f", "-c", "%T", "/var/lib/containerd"], check=True).stdout
    assert fs.strip() != "overlayfs"


def test_kboot_loads_the_inventory_and_reaches_every_node(lab2: Lab) -> None:
    """What ``kboot run``/``kboot up`` do with the lab's inventory: load it, then SSH with
    strict host keys through kboot's own transport."""
    inventory = load_inventory(lab2.inventory_path, require_groups=["control_plane"])
    assert inventory.group_members("etcd") == [f"{lab2.name}-cp1"]
    for host in inventory.hosts.values():
        assert host.connection.host_key_policy == "strict"
        transport = open_transport(host)
        try:
            assert transport.run("hostname").stdout.strip() == host.name
            transport.put(b"pushed\n", "/root/pushed.txt", mode=0o600)
            assert transport.get("/root/pushed.txt") == b"pushed\n"
        finally:
            transport.close()
