"""Lifecycle hooks over FakeRuntime: postStart order and failure, preStop within the grace
period (and what is left of it for SIGTERM), failures as events, hooks cut short by deletion."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from kboot.controlplane.client.clock import run_until_idle
from tests.unit.kubelet.helpers import StaticLookup, harness, pod

BB = "kboot.io/busybox:1.35"
Obj = dict[str, Any]


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def _hooked(**lifecycle: Obj) -> Obj:
    return {"name": "c", "image": BB, "lifecycle": lifecycle,
            "ports": [{"name": "web", "containerPort": 8080}]}


def _state(status: Obj) -> Obj:
    return status["containerStatuses"][0]  # type: ignore[no-any-return]


def test_post_start_runs_after_start_and_before_probes(tmp_path: Path) -> None:
    h = harness(tmp_path)
    c = _hooked(postStart={"exec": {"command": ["touch", "/started"]}})
    c["readinessProbe"] = {"exec": {"command": ["cat", "/started"]}, "periodSeconds": 10}

    async def go() -> Obj:
        status = await h.worker.sync(pod(containers=[c]), StaticLookup())
        await run_until_idle()
        h.worker.stop_probes()
        return status

    status = run(go())
    assert [cmd for _n, cmd in h.runtime.execs] == [["touch", "/started"], ["cat", "/started"]]
    calls = [call for call, _ in h.runtime.calls]
    assert calls.index("start_container") < calls.index("exec_sync")
    assert "running" in _state(status)["state"] and _state(status)["started"]
    assert not [e for e in h.events if e[0] == "Warning"]


def test_failed_post_start_kills_and_restarts_the_container(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.runtime.exec_exit["c"] = 7
    p = pod(containers=[_hooked(postStart={"exec": {"command": ["false"]}})],
            terminationGracePeriodSeconds=9)

    async def go() -> tuple[Obj, Obj]:
        first = await h.worker.sync(p, StaticLookup())
        h.runtime.exec_exit["c"] = 0
        return first, await h.worker.sync(p, StaticLookup())

    first, second = run(go())
    waiting = _state(first)["state"]["waiting"]
    assert waiting["reason"] == "PostStartHookError" and "exited with 7" in waiting["message"]
    assert "terminated" in _state(first)["lastState"]
    assert ("Warning", "FailedPostStartHook", "PostStartHook failed") in h.events
    assert ("Normal", "Killing", "FailedPostStartHook") in h.events
    assert h.runtime.stop_timeouts == [("c", 9)]
    assert _state(second)["restartCount"] == 1 and "running" in _state(second)["state"]


def test_failed_post_start_with_restart_policy_never_fails_the_pod(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.runtime.exec_exit["c"] = 1
    p = pod(containers=[_hooked(postStart={"exec": {"command": ["false"]}})],
            restartPolicy="Never")

    async def go() -> Obj:
        await h.worker.sync(p, StaticLookup())
        return await h.worker.sync(p, StaticLookup())

    status = run(go())
    assert status["phase"] == "Failed"
    assert "terminated" in _state(status)["state"] and _state(status)["restartCount"] == 0


def test_tcp_socket_is_no_runnable_hook(tmp_path: Path) -> None:
    h = harness(tmp_path)
    p = pod(containers=[_hooked(postStart={"tcpSocket": {"port": 8080}})])
    status = run(h.worker.sync(p, StaticLookup()))
    waiting = _state(status)["state"]["waiting"]
    assert waiting["reason"] == "PostStartHookError" and "tcpSocket" in waiting["message"]


def test_http_post_start_hook_reaches_the_named_port_whatever_the_answer(
        tmp_path: Path) -> None:
    h = harness(tmp_path)
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def go() -> Obj:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        c = _hooked(postStart={"httpGet": {"host": "127.0.0.1", "port": "web", "path": "/warm",
                                           "httpHeaders": [{"name": "X-Hook", "value": "1"}]}})
        c["ports"][0]["containerPort"] = port
        async with server:
            return await h.worker.sync(pod(containers=[c]), StaticLookup())

    status = run(go())
    request = seen[0].decode()
    assert request.startswith("GET /warm HTTP/1.1\r\n")
    assert "X-Hook: 1\r\n" in request and "User-Agent: kube-lifecycle/1.32\r\n" in request
    assert "running" in _state(status)["state"]  # a 500 does not fail a hook, as upstream


def test_pre_stop_counts_against_the_grace_period(tmp_path: Path) -> None:
    h = harness(tmp_path)
    p = pod(containers=[_hooked(preStop={"sleep": {"seconds": 10}}),
                        {"name": "plain", "image": BB}])

    async def go() -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        await h.worker.sync(p, StaticLookup())
        done = asyncio.create_task(h.worker.terminate(p, 30))
        await h.clock.advance(9.5)
        during = list(h.runtime.stop_timeouts)
        await h.clock.advance(1)
        await done
        return during, h.runtime.stop_timeouts

    during, after = run(go())
    assert during == [("plain", 30)]  # containers are killed together; only c waits
    assert sorted(after) == [("c", 20), ("plain", 30)]
    assert ("Normal", "Killing", "Stopping container c") in h.events


def test_pre_stop_outlasting_the_grace_period_leaves_the_minimum_window(
        tmp_path: Path) -> None:
    h = harness(tmp_path)
    p = pod(containers=[_hooked(preStop={"sleep": {"seconds": 100}})])

    async def go() -> float:
        await h.worker.sync(p, StaticLookup())
        done = asyncio.create_task(h.worker.terminate(p, 5))
        took = await h.clock.advance_until(lambda: bool(h.runtime.stop_timeouts))
        await done
        return took

    took = run(go())
    assert 5 <= took < 5.5
    assert h.runtime.stop_timeouts == [("c", 2)]
    assert not h.runtime.containers and h.clock.pending == 0  # the hook was abandoned


def test_no_pre_stop_without_grace_and_failures_do_not_stop_termination(
        tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.runtime.exec_exit["c"] = 1
    p = pod(containers=[_hooked(preStop={"exec": {"command": ["drain"]}})])

    async def go(grace: int) -> None:
        await h.worker.sync(p, StaticLookup())
        await h.worker.terminate(p, grace)

    run(go(0))
    assert h.runtime.execs == [] and h.runtime.stop_timeouts == [("c", 2)]
    h.runtime.stop_timeouts.clear()
    run(go(10))
    assert h.runtime.execs == [("c", ["drain"])]
    assert ("Warning", "FailedPreStopHook", "PreStopHook failed") in h.events
    assert h.runtime.stop_timeouts == [("c", 10)]


def test_liveness_kill_runs_pre_stop_with_the_probe_grace_period(tmp_path: Path) -> None:
    h = harness(tmp_path)
    c = _hooked(preStop={"sleep": {"seconds": 1}})
    c["livenessProbe"] = {"httpGet": {"host": "127.0.0.1", "port": 1}, "periodSeconds": 10,
                          "failureThreshold": 1, "terminationGracePeriodSeconds": 4}
    p = pod(containers=[c])

    async def go() -> Obj:
        await h.worker.sync(p, StaticLookup())
        await h.clock.advance_until(lambda: not h.worker.records["c"].live)
        killing = asyncio.create_task(h.worker.sync(p, StaticLookup()))
        await h.clock.advance(1)
        status = await killing
        h.worker.stop_probes()
        return status

    status = run(go())
    assert h.runtime.stop_timeouts == [("c", 3)]
    assert _state(status)["restartCount"] == 1


def test_deletion_cuts_a_hanging_post_start_short(tmp_path: Path) -> None:
    h = harness(tmp_path)
    p = pod(containers=[_hooked(postStart={"sleep": {"seconds": 1000}})])

    async def go() -> Obj:
        syncing = asyncio.create_task(h.worker.sync(p, StaticLookup()))
        await run_until_idle()
        assert not syncing.done()  # held by the hook
        await h.worker.terminate(p, 3)
        return await syncing

    run(go())
    assert h.runtime.stop_timeouts == [("c", 3)] and not h.runtime.containers
    assert not [e for e in h.events if e[0] == "Warning"]
