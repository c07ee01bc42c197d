"""What the lab writes: inventory, known_hosts, state, node identity files."""

from __future__ import annotations

from pathlib import Path

import yaml

from kboot.inventory import load_inventory
from kboot.lab.inventory import inventory_document, render_inventory, render_known_hosts
from kboot.lab.rootfs import builtin_modules, hosts_file, mounted_paths
from kboot.lab.spec import LabSpec
from kboot.lab.state import LabState, NodeRecord

EXAMPLE = Path(__file__).parents[3] / "inventories" / "example.yaml"


def test_inventory_matches_the_native_schema_of_the_example() -> None:
    spec = LabSpec("lab1", 3, 2)
    doc = inventory_document(spec, spec.nodes, key_file=Path("/k/id"), known_hosts=Path("/k/kh"))
    example = yaml.safe_load(EXAMPLE.read_text())
    assert list(doc) == list(example)
    assert set(doc["cluster"]) <= set(example["cluster"]) | {"api_vip"}
    assert doc["cluster"]["pod_cidr"] == example["cluster"]["pod_cidr"]
    assert doc["connection"] == {"user": "root", "port": 22, "key_file": "/k/id",
                                 "known_hosts": "/k/kh", "host_key_policy": "strict"}
    assert doc["hosts"]["lab1-w2"] == {"address": "10.77.0.22"}
    assert doc["cluster"]["api_vip"] == "10.77.0.10"  # several control planes: a VIP
    assert doc["vars"] == {"dpkg_unsafe_io": True}
    single = LabSpec("lab2", 1, 1)
    assert "api_vip" not in inventory_document(single, single.nodes, key_file=Path("/k/id"),
                                               known_hosts=Path("/k/kh"))["cluster"]
    assert doc["groups"] == {
        "control_plane": {"hosts": ["lab1-cp1", "lab1-cp2", "lab1-cp3"]},
        "etcd": {"children": ["control_plane"]},
        "workers": {"hosts": ["lab1-w1", "lab1-w2"]},
    }


def test_rendered_inventory_is_yaml_with_a_usage_header() -> None:
    spec = LabSpec("lab1", 1, 0)
    text = render_inventory(spec, spec.nodes, key_file=Path("/k"), known_hosts=Path("/h"),
                            path=Path("/inv.yaml"))
    assert text.startswith("# Written by `kboot lab up --name lab1`")
    assert "kboot up /inv.yaml" in text
    assert yaml.safe_load(text)["hosts"] == {"lab1-cp1": {"address": "10.77.0.11"}}


def test_known_hosts_lines() -> None:
    text = render_known_hosts({"10.0.0.12": "ssh-ed25519 BBB", "10.0.0.11": "ssh-ed25519 AAA",
                               "10.0.0.13": ""})
    assert text == "10.0.0.11 ssh-ed25519 AAA\n10.0.0.12 ssh-ed25519 BBB\n"


def test_state_round_trips() -> None:
    st = LabState(spec=LabSpec("s", 1, 2, "10.77.9.0/24"), image="provisioned",
                  inventory="/x.yaml", partitions=(("s-cp1", "s-w1"),))
    st = st.with_node("s-cp1", NodeRecord(10, 20, "ssh-ed25519 K", ("/sys/fs/cgroup/pids/x",)))
    assert LabState.from_json(st.to_json()) == st


def test_hosts_file_names_every_node() -> None:
    text = hosts_file(LabSpec("h", 1, 1).nodes)
    assert "10.77.0.11\th-cp1\n" in text and "10.77.0.21\th-w1\n" in text
    assert text.startswith("127.0.0.1\tlocalhost")


def test_mounted_paths_decode_escapes() -> None:
    info = ("36 35 98:0 / /var/lib/kboot/lab/a\\040b/root rw - overlay overlay rw\n"
            "37 35 98:0 / /proc rw - proc proc rw\n")
    assert mounted_paths(info) == ["/var/lib/kboot/lab/a b/root", "/proc"]


def test_builtin_modules_from_kernel_evidence() -> None:
    names = builtin_modules(["bridge", "nf_conntrack"], "nodev\tproc\nnodev\toverlay\n",
                            {"br_netfilter": True, "ip_tables": False})
    assert names == ["br_netfilter", "bridge", "nf_conntrack", "overlay"]
    assert "overlay" not in builtin_modules([], "nodev\tproc\n", {})


def test_kboot_loads_the_lab_inventory(tmp_path: Path) -> None:
    spec = LabSpec("lab1", 3, 2)
    path = tmp_path / "lab.yaml"
    path.write_text(render_inventory(spec, spec.nodes, key_file=Path("/k/id"),
                                     known_hosts=Path("/k/kh"), path=path))
    inv = load_inventory(path, require_groups=["control_plane", "workers"])
    assert inv.group_members("etcd") == ["lab1-cp1", "lab1-cp2", "lab1-cp3"]
    conn = inv.hosts["lab1-w1"].connection
    assert (conn.address, conn.user, conn.key_file, conn.known_hosts, conn.host_key_policy) == (
        "10.77.0.21", "root", "/k/id", "/k/kh", "strict")


def test_kboot_loads_the_vagrant_inventory() -> None:
    inv = load_inventory(EXAMPLE.with_name("vagrant.yaml"), require_groups=["control_plane"])
    assert inv.group_members("etcd") == ["cp1", "cp2", "cp3"]
    assert inv.hosts["w2"].connection.address == "192.168.77.22"
