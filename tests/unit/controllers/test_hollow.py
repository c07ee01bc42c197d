"""Hollow nodes: exit plans as a table, and one node's pod lifecycle over the fake."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kboot.controlplane.client.clock import FakeClock
from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.client.informer import Informers
from kboot.controlplane.hollow.cluster import HollowCluster, HollowOptions
from kboot.controlplane.hollow.pods import EXIT_CODE, RUN_SECONDS, exit_plan


def pod(policy: str = "Never", command: list[str] | None = None,
        annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns", "annotations": annotations or {}},
            "spec": {"restartPolicy": policy,
                     "containers": [{"name": "c", "image": "busybox",
                                     "command": command or []}]}}


@pytest.mark.parametrize("p,expected", [
    (pod("Always"), None),
    (pod(), (0, 1.0)),
    (pod(command=["false"]), (1, 1.0)),
    (pod(command=["sh", "-c", "echo hi; exit 3"]), (3, 1.0)),
    (pod(annotations={EXIT_CODE: "7", RUN_SECONDS: "0"}), (7, 0.0)),
    (pod("OnFailure", annotations={EXIT_CODE: "0"}), (0, 1.0)),
])
def test_exit_plan(p: dict[str, Any], expected: tuple[int, float] | None) -> None:
    assert exit_plan(p) == expected


async def eventually(clock: FakeClock, probe: Any) -> None:
    """Advance simulated time until ``probe()`` holds."""
    await clock.advance_until(probe, limit=60)


def test_hollow_node_registers_runs_finishes_and_deletes_pods() -> None:
    async def go() -> None:
        clock = FakeClock()
        fake = FakeClient(clock=clock)
        informers = Informers(fake, clock=clock)
        cluster = HollowCluster(fake, ["h-0"], HollowOptions(heartbeat=0.05),
                                informers.get("pods"), informers.get("nodes"), clock=clock)
        informers.start()
        await informers.wait_synced(1)
        await fake.create("namespaces", {"metadata": {"name": "ns"}})
        task = asyncio.create_task(cluster.run())

        async def registered() -> bool:
            return bool(fake.all("leases"))

        await eventually(clock, registered)
        node = (await fake.get("nodes", "h-0"))
        assert node["status"]["allocatable"]["pods"] == "110"
        lease = await fake.get("leases", "h-0", namespace="kube-node-lease")
        assert lease["spec"]["holderIdentity"] == "h-0"
        node["spec"]["podCIDR"] = "10.244.7.0/24"
        await fake.replace("nodes", node)
        job = pod(annotations={EXIT_CODE: "2", RUN_SECONDS: "0"})
        job["spec"]["nodeName"] = "h-0"
        await fake.create("pods", job)
        server = pod("Always")
        server["metadata"]["name"] = "srv"
        server["spec"]["nodeName"] = "h-0"
        await fake.create("pods", server)

        async def settled() -> bool:
            phases = {p["metadata"]["name"]: (p.get("status") or {}).get("phase")
                      for p in fake.all("pods")}
            return phases == {"p": "Failed", "srv": "Running"}

        await eventually(clock, settled)
        srv = await fake.get("pods", "srv", namespace="ns")
        assert srv["status"]["phase"] == "Running"
        assert srv["status"]["podIP"].startswith("10.244.7.")
        assert srv["status"]["containerStatuses"][0]["ready"] is True
        done = await fake.get("pods", "p", namespace="ns")
        assert done["status"]["phase"] == "Failed"
        assert done["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 2
        await fake.delete("pods", "srv", namespace="ns")  # graceful: the node finishes it

        async def finished() -> bool:
            return [p["metadata"]["name"] for p in fake.all("pods")] == ["p"]

        await eventually(clock, finished)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await informers.stop()

    asyncio.run(go())
