"""Node lifecycle (heartbeat grace, taints, eviction), IPAM, namespaces, service accounts."""

from __future__ import annotations

from kboot.controlplane.controllers.base import Options
from kboot.controlplane.controllers.ipam import CidrAllocator, NodeIpamController
from kboot.controlplane.controllers.namespace import NamespaceController, ServiceAccountController
from kboot.controlplane.controllers.nodelifecycle import UNREACHABLE, NodeLifecycleController

from .harness import Harness, Obj, ready_pod, run


def node(name: str) -> Obj:
    return {"metadata": {"name": name}, "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True",
                                       "lastHeartbeatTime": "2026-01-01T00:00:00Z"}]}}


def test_silent_node_goes_unknown_gets_tainted_and_its_pods_are_evicted() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("n1")
        assert not h.fake.all("nodes")[0]["spec"].get("taints")
        await h.clock.advance(39)
        await h.reconcile("n1")
        assert not h.fake.all("nodes")[0]["spec"].get("taints"), "still within the grace"
        await h.clock.advance(2)
        await h.reconcile("n1")
        n = h.fake.all("nodes")[0]
        ready = next(c for c in n["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "Unknown"
        assert {(t["key"], t["effect"]) for t in n["spec"]["taints"]} == {
            (UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")}
        # eviction timeout 0: the pod goes, the tolerating one stays
        await h.reconcile("n1")
        assert [p["metadata"]["name"] for p in h.fake.all("pods")] == ["tolerant"]

    tolerant = ready_pod({"metadata": {"name": "tolerant", "namespace": "ns"},
                          "spec": {"tolerations": [{"key": UNREACHABLE,
                                                    "operator": "Exists"}]}})
    plain = ready_pod({"metadata": {"name": "plain", "namespace": "ns"}, "spec": {}})
    run(NodeLifecycleController,
        [("nodes", node("n1")), ("pods", tolerant), ("pods", plain)], body,
        options=Options(node_monitor_grace_period=40, pod_eviction_timeout=0))


def test_ipam_assigns_distinct_blocks_and_skips_used_ones() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("n1")
        await h.reconcile("n3")
        cidrs = {n["metadata"]["name"]: n["spec"].get("podCIDR") for n in h.fake.all("nodes")}
        assert cidrs == {"n1": "10.9.0.0/24", "n2": "10.9.1.0/24", "n3": "10.9.2.0/24"}

    used = node("n2")
    used["spec"]["podCIDR"] = "10.9.1.0/24"
    run(NodeIpamController, [("nodes", node("n1")), ("nodes", used), ("nodes", node("n3"))],
        body, options=Options(cluster_cidr="10.9.0.0/16"))


def test_ipam_gives_a_node_one_block_even_before_its_patch_is_seen() -> None:
    """A node updated again before the informer shows our podCIDR patch is reconciled again:
    it must get the block it already has, not a second one (which would leak the first and
    move a node whose pods already have addresses)."""
    alloc = CidrAllocator("10.9.0.0/16", 24)
    first = alloc.allocate("n1")
    assert alloc.allocate("n1") == first
    assert alloc.allocate("n2") != first
    alloc.release("n1")
    assert alloc.allocate("n3") == first


def test_namespace_deletion_empties_then_finalizes() -> None:
    async def body(h: Harness) -> None:
        h.fake.graceful_pod_deletion = False
        await h.fake.delete("namespaces", "gone")
        await h.reconcile("gone")
        assert h.fake.all("configmaps") == []
        assert h.fake.all("namespaces")  # stays until a pass sees it empty
        await h.reconcile("gone")
        assert h.fake.all("namespaces") == []

    run(NamespaceController,
        [("namespaces", {"metadata": {"name": "gone"}, "spec": {"finalizers": ["kubernetes"]}}),
         ("configmaps", {"metadata": {"name": "cm", "namespace": "gone"}})], body)


def test_service_account_controller_creates_default() -> None:
    async def body(h: Harness) -> None:
        await h.reconcile("team")
        assert [s["metadata"]["name"] for s in h.fake.all("serviceaccounts", "team")] == [
            "default"]
        await h.reconcile("team")
        assert len(h.fake.all("serviceaccounts", "team")) == 1

    run(ServiceAccountController, [("namespaces", {"metadata": {"name": "team"}})], body)
