"""The lab's network: a bridge on the host, one network namespace per node joined to it by a
veth pair, host firewall rules that keep lab traffic on this machine, and partition rules.

Nodes have static addresses configured from the host before boot (the namespace outlives the
node's processes, so a stopped node keeps its address and its partition rules). Their default
route points at the bridge address, which the cluster needs for Service IPs; the host's FORWARD
chain drops everything between the lab bridge and any other interface, so no lab packet ever
leaves this machine. Rule lists are built by pure functions and applied here.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from kboot.lab.spec import FIREWALL_COMMENT, PARTITION_CHAIN, LabSpec, NodeSpec
from kboot.lab.system import output, run

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
HOST_MODULES = ("br_netfilter", "overlay")


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def load_host_modules() -> None:
    """Load the kernel modules nodes rely on, where this machine can (built-ins need nothing)."""
    if shutil.which("modprobe") is None:
        return
    for module in HOST_MODULES:
        run(["modprobe", module], check=False)


def ensure_bridge(spec: LabSpec) -> None:
    if not link_exists(spec.bridge):
        run(["ip", "link", "add", spec.bridge, "type", "bridge"])
    cidr = f"{spec.gateway}/{spec.network.prefixlen}"
    run(["ip", "addr", "replace", cidr, "dev", spec.bridge])
    run(["ip", "link", "set", spec.bridge, "up"])


def remove_bridge(bridge: str) -> None:
    if link_exists(bridge):
        run(["ip", "link", "del", bridge])


def ensure_node_network(spec: LabSpec, node: NodeSpec) -> None:
    """The node's namespace, veth pair, address, default route (idempotent)."""
    ns = node.netns
    if not netns_exists(ns):
        run(["ip", "netns", "add", ns])
    if not link_exists(node.host_veth):
        _wait_link_gone(node.host_veth)
        run(["ip", "link", "add", node.host_veth, "type", "veth", "peer", "name", "eth0",
             "netns", ns])
        run(["ip", "-n", ns, "link", "set", "eth0", "address", node.mac])
    run(["ip", "link", "set", node.host_veth, "master", spec.bridge, "up"])
    run(["ip", "-n", ns, "addr", "replace", f"{node.address}/{node.prefixlen}", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    run(["ip", "-n", ns, "route", "replace", "default", "via", spec.gateway])


def remove_netns(ns: str) -> None:
    if netns_exists(ns):
        run(["ip", "netns", "del", ns])


def remove_link(name: str) -> None:
    """Delete a link that outlived its namespace (the kernel's teardown is asynchronous)."""
    if not _wait_link_gone(name):
        run(["ip", "link", "del", name], check=False)


def _wait_link_gone(name: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while link_exists(name):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# --- host firewall ---------------------------------------------------------------------------

def firewall_comment(lab: str) -> str:
    return f"{FIREWALL_COMMENT}:{lab}"


def forward_rules(spec: LabSpec) -> list[list[str]]:
    """FORWARD rules (without ``-A``/``-I``): lab ↔ lab accepted, lab ↔ anything else dropped."""
    br = spec.bridge
    tag = ["-m", "comment", "--comment", firewall_comment(spec.name)]
    return [
        ["-i", br, "-o", br, *tag, "-j", "ACCEPT"],
        ["-i", br, "!", "-o", br, *tag, "-j", "DROP"],
        ["!", "-i", br, "-o", br, *tag, "-j", "DROP"],
    ]


def _firewalls() -> list[str]:
    """iptables, and ip6tables where present: no IPv6 packet may leave either."""
    return [t for t in ("iptables", "ip6tables") if t == "iptables" or shutil.which(t)]


def ensure_host_firewall(spec: LabSpec) -> None:
    for tool in _firewalls():
        for rule in reversed(forward_rules(spec)):
            if run([tool, "-w", "-C", "FORWARD", *rule], check=False).returncode != 0:
                run([tool, "-w", "-I", "FORWARD", "1", *rule])


def tagged_rule_deletions(rules_dump: str, comment: str) -> list[list[str]]:
    """``iptables -S`` output → the ``-D`` argument lists removing every rule tagged ``comment``."""
    deletions = []
    for line in rules_dump.splitlines():
        words = shlex.split(line)
        if words[:1] == ["-A"] and comment in words:
            deletions.append(["-D", *words[1:]])
    return deletions


def remove_host_firewall(lab: str) -> None:
    for tool in _firewalls():
        dump = output([tool, "-w", "-S", "FORWARD"])
        for deletion in tagged_rule_deletions(dump, firewall_comment(lab)):
            run([tool, "-w", *deletion], check=False)


# --- partitions (rules inside node namespaces) -----------------------------------------------

def partition_rules(peer: NodeSpec) -> list[tuple[str, list[str]]]:
    """(table, rule) pairs that, inside a node's namespace, drop all traffic with ``peer``.

    IP rules cover node-to-node traffic; the MAC rule in ``raw`` also catches packets the peer
    routes for its pods (their IPs are not the peer's, but their source MAC is).
    """
    return [
        ("filter", ["-s", peer.address, "-j", "DROP"]),
        ("filter", ["-d", peer.address, "-j", "DROP"]),
        ("raw", ["-m", "mac", "--mac-source", peer.mac, "-j", "DROP"]),
    ]


CHAIN_HOOKS = {"filter": ("INPUT", "OUTPUT", "FORWARD"), "raw": ("PREROUTING",)}


def _ns_iptables(ns: str, table: str, args: Sequence[str], *, check: bool = True) -> int:
    argv = ["ip", "netns", "exec", ns, "iptables", "-w", "-t", table, *args]
    return run(argv, check=check).returncode


def _ensure_partition_chain(ns: str, table: str) -> None:
    if _ns_iptables(ns, table, ["-S", PARTITION_CHAIN], check=False) != 0:
        _ns_iptables(ns, table, ["-N", PARTITION_CHAIN])
    for hook in CHAIN_HOOKS[table]:
        if _ns_iptables(ns, table, ["-C", hook, "-j", PARTITION_CHAIN], check=False) != 0:
            _ns_iptables(ns, table, ["-I", hook, "1", "-j", PARTITION_CHAIN])


def block(node: NodeSpec, peer: NodeSpec) -> None:
    """Drop traffic between ``node`` and ``peer``, with rules in both namespaces."""
    for here, there in ((node, peer), (peer, node)):
        for table, rule in partition_rules(there):
            _ensure_partition_chain(here.netns, table)
            if _ns_iptables(here.netns, table, ["-C", PARTITION_CHAIN, *rule], check=False):
                _ns_iptables(here.netns, table, ["-A", PARTITION_CHAIN, *rule])


def unblock_all(node: NodeSpec) -> None:
    """Empty the node's partition chains (heal)."""
    if not netns_exists(node.netns):
        return
    for table in CHAIN_HOOKS:
        _ns_iptables(node.netns, table, ["-F", PARTITION_CHAIN], check=False)
