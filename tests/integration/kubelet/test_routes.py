"""host-gw routes for real: two network namespaces on one link; the kubelet's route sync in one
makes the other's pod subnet reachable, and removes the route when that node goes away."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import pytest

from kboot.controlplane.kubelet import network
from tests.integration.kubelet.harness import sh

pytestmark = pytest.mark.integration
A, B = "kbt-cri-rt-a", "kbt-cri-rt-b"


def _node(name: str, ip: str, cidr: str) -> dict:  # type: ignore[type-arg]
    return {"metadata": {"name": name}, "spec": {"podCIDR": cidr},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}


@pytest.fixture
def two_hosts() -> Iterator[None]:
    for ns in (A, B):
        sh("ip", "netns", "del", ns, check=False)
    try:
        sh("ip", "netns", "add", A)
        sh("ip", "netns", "add", B)
        sh("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", B, ns=A)
        sh("ip", "addr", "add", "10.252.0.1/24", "dev", "eth0", ns=A)
        sh("ip", "addr", "add", "10.252.0.2/24", "dev", "eth0", ns=B)
        sh("ip", "addr", "add", "10.251.99.1/32", "dev", "lo", ns=B)  # a "pod" address on B
        for ns, devs in ((A, ("lo", "eth0")), (B, ("lo", "eth0"))):
            for dev in devs:
                sh("ip", "link", "set", dev, "up", ns=ns)
        yield
    finally:
        for ns in (A, B):
            sh("ip", "netns", "del", ns, check=False)


def _reachable() -> bool:
    res = subprocess.run(["ip", "netns", "exec", A, "busybox", "ping", "-c1", "-W1",
                          "10.251.99.1"], capture_output=True, check=False, timeout=10)
    return res.returncode == 0


def test_routes_follow_nodes(two_hosts: None) -> None:
    prefix = ["nsenter", f"--net=/run/netns/{A}"]
    nodes = [_node("a", "10.252.0.1", "10.251.98.0/24"), _node("b", "10.252.0.2",
                                                               "10.251.99.0/24")]
    assert not _reachable()
    asyncio.run(network.sync_routes(nodes, "a", prefix=prefix))
    routes = sh("ip", "route", "show", "proto", "199", ns=A).stdout
    assert "10.251.99.0/24 via 10.252.0.2" in routes and "10.251.98.0/24" not in routes
    assert _reachable()
    asyncio.run(network.sync_routes(nodes[:1], "a", prefix=prefix))
    assert sh("ip", "route", "show", "proto", "199", ns=A).stdout.strip() == ""
    assert not _reachable()
