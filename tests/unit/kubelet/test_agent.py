"""Kubelet over the fake API and FakeRuntime: registration, lease, status, graceful deletion.

Everything runs on one :class:`FakeClock`: the tests advance it until a condition holds
(bounded in simulated seconds), never sleeping."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from kboot.controlplane.client.api import DeleteOptions
from kboot.controlplane.client.clock import FakeClock
from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.kubelet.agent import Kubelet, KubeletConfig
from kboot.controlplane.kubelet.cri.fake import FakeRuntime, _Container
from kboot.controlplane.kubelet.cri.types import ContainerConfig, ContainerStatus
from kboot.controlplane.kubelet.node import NodeAgent, NodeConfig
from kboot.controlplane.kubelet.podspec import NodeSettings
from kboot.controlplane.kubelet.sync import WorkerSettings
from tests.unit.kubelet.helpers import pod


async def until(clock: FakeClock, check: Callable[[], Awaitable[bool]],
                limit: float = 120.0) -> float:
    """Advance ``clock`` until ``check()`` holds; the simulated seconds it took."""
    return await clock.advance_until(check, limit=limit)


def _kubelet(tmp_path: Path) -> tuple[FakeClient, FakeRuntime, Kubelet]:
    clock = FakeClock()
    client, runtime = FakeClient(clock=clock), FakeRuntime(clock=clock)
    cfg = KubeletConfig(
        node=NodeConfig(name="n1", ip="192.0.2.10", port=10250, root_dir=str(tmp_path)),
        worker=WorkerSettings(node=NodeSettings(log_root=str(tmp_path / "logs"),
                                                cgroup_root="/kbt-unit"), host_ip="192.0.2.10"),
        cni_conf_dir=str(tmp_path / "cni"), manage_routes=False, resync=0.2,
        local_path_dir=str(tmp_path / "lp"))
    return client, runtime, Kubelet(client, runtime, cfg, clock=clock)


def test_node_registration_lease_and_pod_lifecycle(tmp_path: Path) -> None:
    client, runtime, kubelet = _kubelet(tmp_path)

    async def go() -> None:
        task = asyncio.create_task(kubelet.run())
        client.seed("secrets", {"apiVersion": "v1", "kind": "Secret",
                                "metadata": {"name": "s", "namespace": "default"},
                                "data": {"k": base64.b64encode(b"v").decode()}})
        p = pod("web", containers=[{"name": "c", "image": "kboot.io/busybox:1.35", "env": [
            {"name": "K", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}])
        del p["metadata"]["uid"]
        await client.create("pods", p)

        async def running() -> bool:
            st = (await client.get("pods", "web", namespace="default")).get("status") or {}
            return st.get("phase") == "Running"

        await until(kubelet.clock, running)
        node = await client.get("nodes", "n1")
        assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
        assert {"type": "InternalIP", "address": "192.0.2.10"} in node["status"]["addresses"]
        assert {c["type"] for c in node["status"]["conditions"]} >= {"Ready", "MemoryPressure"}
        lease = await client.get("leases", "n1", namespace="kube-node-lease")
        assert lease["spec"]["holderIdentity"] == "n1"
        cfg = next(iter(runtime.containers.values())).config
        assert dict(cfg.envs)["K"] == "v"
        await client.patch("nodes", "n1", {"spec": {"podCIDR": "10.244.7.0/24"}})

        async def cni_written() -> bool:
            return (tmp_path / "cni" / "10-kboot.conflist").is_file()

        await until(kubelet.clock, cni_written)
        assert "10.244.7.0/24" in (tmp_path / "cni" / "10-kboot.conflist").read_text()
        await client.delete("pods", "web", namespace="default",
                            options=DeleteOptions(grace_period_seconds=3))

        async def gone() -> bool:
            return not client.all("pods")

        await until(kubelet.clock, gone)
        assert not runtime.sandboxes
        assert ("stop_container", "c") in runtime.calls
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())


def test_deleting_a_pod_cuts_its_hanging_post_start_short(tmp_path: Path) -> None:
    client, runtime, kubelet = _kubelet(tmp_path)

    async def go() -> float:
        task = asyncio.create_task(kubelet.run())
        p = pod("stuck", containers=[{"name": "c", "image": "kboot.io/busybox:1.35",
                                      "lifecycle": {"postStart": {"sleep": {"seconds": 3600}}}}])
        del p["metadata"]["uid"]
        await client.create("pods", p)

        async def started() -> bool:
            return ("start_container", "c") in runtime.calls

        await until(kubelet.clock, started)
        await client.delete("pods", "stuck", namespace="default",
                            options=DeleteOptions(grace_period_seconds=5))

        async def gone() -> bool:
            return not client.all("pods")

        took = await until(kubelet.clock, gone)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return took

    took = asyncio.run(go())
    assert took < 60  # not the hook's hour
    assert runtime.stop_timeouts == [("c", 5)] and not runtime.sandboxes


def test_orphaned_sandboxes_are_removed_at_start(tmp_path: Path) -> None:
    from kboot.controlplane.kubelet.cri.types import SandboxConfig
    from kboot.controlplane.kubelet.podspec import LABEL_UID

    _client, runtime, kubelet = _kubelet(tmp_path)
    orphan_logs = tmp_path / "logs" / "default_old_gone"
    orphan_logs.mkdir(parents=True)

    async def go() -> None:
        await runtime.run_sandbox(SandboxConfig(name="old", namespace="default", uid="gone",
                                                labels={LABEL_UID: "gone"}))
        await runtime.run_sandbox(SandboxConfig(name="foreign", namespace="x", uid="f"))
        task = asyncio.create_task(kubelet.run())

        async def cleaned() -> bool:
            return [s.name for s in runtime.sandboxes.values()] == ["foreign"]

        await until(kubelet.clock, cleaned)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())
    assert not orphan_logs.exists()


def test_young_containers_keep_their_pod_looked_at_often() -> None:
    from kboot.controlplane.kubelet.agent import _settling
    started = {"running": {"startedAt": "2026-11-25T10:00:00Z"}}
    status = {"phase": "Running", "containerStatuses": [{"state": started, "ready": True}]}
    t0 = 1795600800.0  # 2026-11-25T10:00:00Z
    assert _settling(status, now=t0 + 2)  # a short-lived container's exit is seen soon
    assert not _settling(status, now=t0 + 60)  # settled: the normal resync period
    waiting = {"phase": "Pending", "containerStatuses": [
        {"state": {"waiting": {"reason": "ContainerCreating"}}, "ready": False}]}
    assert _settling(waiting, now=t0 + 60)


def test_a_new_node_is_posted_ready_as_soon_as_its_network_is() -> None:
    """Until Ready, the runtime is re-checked every fast_interval: the node turns Ready within
    a second of NetworkReady, long before the next regular status update (10 s here)."""
    clock = FakeClock()
    client, runtime = FakeClient(clock=clock), FakeRuntime(network_ready=False, clock=clock)
    agent = NodeAgent(client, runtime, NodeConfig(name="n1", ip="192.0.2.10"),
                      status_interval=10.0, lease_interval=10.0, fast_interval=0.5,
                      clock=clock)

    async def ready() -> str:
        node = await client.get("nodes", "n1")
        conds = (node.get("status") or {}).get("conditions") or []
        return next((c["status"] for c in conds if c["type"] == "Ready"), "")

    async def go() -> None:
        await agent.register()
        task = asyncio.create_task(agent.run())
        await clock.advance(3)
        assert await ready() == "False"
        runtime.network_ready = True

        async def is_ready() -> bool:
            return await ready() == "True"

        took = await until(clock, is_ready)
        assert took <= 0.5 + 0.1  # one fast_interval (simulated), not the 10 s status period
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())


def test_resource_metrics_ask_the_runtime_when_a_listed_container_has_no_start(
        tmp_path: Path) -> None:
    """CRI ListContainers has no ``started_at`` (only ContainerStatus does)."""
    _, runtime, kubelet = _kubelet(tmp_path)
    full = ContainerStatus(id="cid1", name="app", attempt=0, state="running",
                           started_at=1_624_396_248_302_091_600)
    runtime.containers["cid1"] = _Container(full, ContainerConfig("app", "img"))
    listed = replace(full, started_at=0)
    assert asyncio.run(kubelet._started_ns(listed)) == 1_624_396_248_302_091_600
    assert asyncio.run(kubelet._started_ns(replace(listed, id="gone"))) == 0
