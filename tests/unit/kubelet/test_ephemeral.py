"""Ephemeral containers in the PodWorker (FakeRuntime) and host namespaces in the CRI configs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kboot.controlplane.kubelet import podspec
from tests.unit.kubelet.helpers import StaticLookup, harness, pod

BB = "kboot.io/busybox:1.35"


def test_ephemeral_joins_the_targets_pid_namespace_once(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.runtime.exit_on_start["dbg"] = 0  # the debug shell ends at once: it is not restarted
    p = pod(containers=[{"name": "c", "image": BB}],
            ephemeralContainers=[{"name": "dbg", "image": BB, "targetContainerName": "c"}])

    async def go() -> dict:  # type: ignore[type-arg]
        status: dict = {}  # type: ignore[type-arg]
        for _ in range(4):
            status = await h.worker.sync(p, StaticLookup())
        return status

    status = asyncio.run(go())
    starts = [name for call, name in h.runtime.calls if call == "start_container"]
    assert starts == ["c", "dbg"]
    by_name = {c.config.name: c for c in h.runtime.containers.values()}
    dbg = by_name["dbg"].config
    assert (dbg.pid_mode, dbg.target_id) == ("target", h.worker.records["c"].container_id)
    assert by_name["c"].config.pid_mode == "container"
    assert status["phase"] == "Running"  # the exited debug container does not count
    assert [s["name"] for s in status["containerStatuses"]] == ["c"]
    (eph,) = status["ephemeralContainerStatuses"]
    assert eph["name"] == "dbg" and "terminated" in eph["state"]


def test_ephemeral_waits_for_a_target_that_is_not_running(tmp_path: Path) -> None:
    h = harness(tmp_path)
    p = pod(initContainers=[{"name": "init", "image": BB}], containers=[{"name": "c", "image": BB}],
            ephemeralContainers=[{"name": "dbg", "image": BB, "targetContainerName": "c"}])
    status = asyncio.run(h.worker.sync(p, StaticLookup()))
    assert ("start_container", "dbg") not in h.runtime.calls
    assert status["ephemeralContainerStatuses"][0]["state"]["waiting"]["reason"] == \
        "ContainerCreating"


def test_host_namespaces_and_hostname() -> None:
    p = pod(containers=[{"name": "c", "image": BB}], hostNetwork=True, hostPID=True,
            hostIPC=True)
    sandbox = podspec.sandbox_config(p, podspec.NodeSettings())
    assert (sandbox.host_network, sandbox.host_pid, sandbox.host_ipc) == (True, True, True)
    assert sandbox.hostname == ""  # the node's own: no private UTS namespace to name
    cfg = podspec.container_config(p, p["spec"]["containers"][0], attempt=0, envs=[], mounts=())
    assert (cfg.pid_mode, cfg.ipc_mode) == ("node", "node")
    shared = pod(containers=[{"name": "c", "image": BB}], shareProcessNamespace=True)
    cfg = podspec.container_config(shared, shared["spec"]["containers"][0], attempt=0, envs=[],
                                   mounts=(), target_id="abc")
    assert (cfg.pid_mode, cfg.target_id) == ("target", "abc")
    cfg = podspec.container_config(shared, shared["spec"]["containers"][0], attempt=0, envs=[],
                                   mounts=())
    assert (cfg.pid_mode, cfg.ipc_mode, cfg.target_id) == ("pod", "pod", "")
