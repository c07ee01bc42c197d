"""PodWorker over FakeRuntime: start order, restarts and back-off, probes, status, termination."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.unit.kubelet.helpers import StaticLookup, harness, pod

BB = "kboot.io/busybox:1.35"


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def _state(status: dict, name: str) -> dict:  # type: ignore[type-arg]
    for key in ("initContainerStatuses", "containerStatuses"):
        for st in status.get(key) or []:
            if st["name"] == name:
                return st  # type: ignore[no-any-return]
    raise KeyError(name)


def test_init_containers_run_in_order_before_app_containers(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.runtime.exit_on_start.update({"init1": 0, "init2": 0})
    p = pod(initContainers=[{"name": "init1", "image": BB}, {"name": "init2", "image": BB}],
            containers=[{"name": "a", "image": BB}, {"name": "b", "image": BB}])

    async def go() -> dict:  # type: ignore[type-arg]
        status: dict = {}  # type: ignore[type-arg]
        for _ in range(4):
            status = await h.worker.sync(p, StaticLookup())
        return status

    status = run(go())
    starts = [name for call, name in h.runtime.calls if call == "start_container"]
    assert starts == ["init1", "init2", "a", "b"]
    assert h.runtime.calls[0] == ("run_sandbox", "p1")
    assert status["phase"] == "Running"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Initialized": "True", "Ready": "True", "ContainersReady": "True",
        "PodScheduled": "True"}
    assert status["podIP"].startswith("10.244.") and status["hostIP"] == "192.0.2.1"
    assert _state(status, "init1")["state"]["terminated"]["reason"] == "Completed"


def test_pending_while_init_container_runs(tmp_path: Path) -> None:
    h = harness(tmp_path)
    p = pod(initContainers=[{"name": "init", "image": BB}])
    status = run(h.worker.sync(p, StaticLookup()))
    assert status["phase"] == "Pending"
    assert ("start_container", "c") not in h.runtime.calls
    init = {c["type"]: c for c in status["conditions"]}["Initialized"]
    assert init["status"] == "False"


def test_crash_restarts_with_backoff_and_counts(tmp_path: Path) -> None:
    h = harness(tmp_path, backoff=10)
    h.runtime.exit_on_start["c"] = 1
    p = pod()

    async def go() -> list[dict]:  # type: ignore[type-arg]
        out = []
        for _ in range(3):
            out.append(await h.worker.sync(p, StaticLookup()))
        await h.clock.advance(9.5)
        out.append(await h.worker.sync(p, StaticLookup()))  # still backing off
        await h.clock.advance(1)
        out.append(await h.worker.sync(p, StaticLookup()))
        return out

    first, second, third, early, fourth = run(go())
    assert _state(first, "c")["restartCount"] == 0
    assert _state(second, "c")["restartCount"] == 1  # first restart is immediate
    st = _state(third, "c")
    assert st["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert st["lastState"]["terminated"]["exitCode"] == 1
    assert third["phase"] == "Running"  # restartPolicy Always: crash-looping pods stay Running
    assert _state(early, "c")["restartCount"] == 1
    assert "back-off 10s" in _state(early, "c")["state"]["waiting"]["message"]
    assert _state(fourth, "c")["restartCount"] == 2
    assert not _state(fourth, "c")["ready"]


def test_restart_policy_never_and_onfailure(tmp_path: Path) -> None:
    cases = (("Never", 1, "Failed", 1), ("OnFailure", 0, "Succeeded", 1),
             ("OnFailure", 2, "Running", 2), ("Never", 0, "Succeeded", 1))
    for policy, code, phase, starts in cases:
        h = harness(tmp_path / f"{policy}{code}")
        h.runtime.exit_on_start["c"] = code
        p = pod(restartPolicy=policy)

        async def go(p: dict = p, h=h) -> dict:  # type: ignore[no-untyped-def,type-arg]
            await h.worker.sync(p, StaticLookup())
            return await h.worker.sync(p, StaticLookup())

        status = run(go())
        assert status["phase"] == phase, (policy, code)
        assert [c for c, _ in h.runtime.calls].count("start_container") == starts


def test_config_from_configmap_and_secret(tmp_path: Path) -> None:
    h = harness(tmp_path)
    lookup = StaticLookup(configmaps={("default", "cm"): {"color": "blue", "size": "L"}},
                          secrets={("default", "s"): {"token": b"t0p"}})
    c = {"name": "c", "image": BB, "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
         "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}},
                 {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                 {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 {"name": "MSG", "value": "$(CM_color)-x"}],
         "volumeMounts": [{"name": "cfg", "mountPath": "/cfg"},
                          {"name": "sec", "mountPath": "/sec"}]}
    p = pod(containers=[c], volumes=[
        {"name": "cfg", "configMap": {"name": "cm", "items": [{"key": "color", "path": "c.txt"}]}},
        {"name": "sec", "secret": {"secretName": "s", "defaultMode": 0o400}}])
    run(h.worker.sync(p, lookup))
    cfg = next(x.config for x in h.runtime.containers.values())
    env = dict(cfg.envs)
    assert env["CM_color"] == "blue" and env["TOKEN"] == "t0p" and env["ME"] == "p1"
    assert env["IP"].startswith("10.244.") and env["MSG"] == "blue-x"
    mounts = {m.container_path: Path(m.host_path) for m in cfg.mounts}
    assert (mounts["/cfg"] / "c.txt").read_text() == "blue"
    assert not (mounts["/cfg"] / "size").exists()
    assert (mounts["/sec"] / "token").stat().st_mode & 0o777 == 0o400
    lookup.configmaps[("default", "cm")]["color"] = "red"
    run(h.worker.sync(p, lookup))
    assert (mounts["/cfg"] / "c.txt").read_text() == "red"


def test_missing_configmap_is_config_error(tmp_path: Path) -> None:
    h = harness(tmp_path)
    c = {"name": "c", "image": BB, "env": [
        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}]}
    status = run(h.worker.sync(pod(containers=[c]), StaticLookup()))
    assert _state(status, "c")["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    assert status["phase"] == "Pending"


def test_image_pull_policies(tmp_path: Path) -> None:
    h = harness(tmp_path)
    p = pod(containers=[{"name": "c", "image": "kboot.io/nothere:1"},
                        {"name": "d", "image": BB, "imagePullPolicy": "Always"}])
    status = run(h.worker.sync(p, StaticLookup()))
    assert _state(status, "c")["state"]["waiting"]["reason"] == "ErrImagePull"
    assert _state(status, "d")["state"]["waiting"]["reason"] == "ErrImagePull"
    assert ("pull_image", BB) in h.runtime.calls
    assert any(r == "Failed" and "no registry" in m for _t, r, m in h.events)
    h2 = harness(tmp_path / "b", backoff=60)
    run(h2.worker.sync(p, StaticLookup()))
    again = run(h2.worker.sync(p, StaticLookup()))
    assert _state(again, "c")["state"]["waiting"]["reason"] == "ImagePullBackOff"
    assert [c for c, _ in h2.runtime.calls].count("pull_image") == 2  # c and d, once each


def test_emptydir_survives_container_restart(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.runtime.exit_on_start["c"] = 1
    c = {"name": "c", "image": BB, "volumeMounts": [{"name": "scratch", "mountPath": "/s"}]}
    p = pod(containers=[c], volumes=[{"name": "scratch", "emptyDir": {}}])

    async def go() -> list[str]:
        await h.worker.sync(p, StaticLookup())
        cfg = next(iter(h.runtime.containers.values())).config
        (Path(cfg.mounts[0].host_path) / "kept").write_text("1")
        await h.worker.sync(p, StaticLookup())
        return [x.config.mounts[0].host_path for x in h.runtime.containers.values()]

    paths = run(go())
    assert len(set(paths)) == 1 and (Path(paths[0]) / "kept").read_text() == "1"


def test_probes_gate_readiness_and_liveness_restarts(tmp_path: Path) -> None:
    h = harness(tmp_path)
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 10, "failureThreshold": 1}
    c = {"name": "c", "image": BB, "readinessProbe": probe, "livenessProbe": probe}
    p = pod(containers=[c])

    async def go() -> tuple[dict, dict, dict]:  # type: ignore[type-arg]
        h.runtime.exec_exit["c"] = 1
        first = await h.worker.sync(p, StaticLookup())
        h.runtime.exec_exit["c"] = 0
        await h.clock.advance(10)  # one probe period
        ready = await h.worker.sync(p, StaticLookup())
        h.runtime.exec_exit["c"] = 1
        await h.clock.advance(10)
        restarted = await h.worker.sync(p, StaticLookup())
        h.worker.stop_probes()
        return first, ready, restarted

    first, ready, restarted = run(go())
    assert not _state(first, "c")["ready"]
    assert _state(ready, "c")["ready"] and ready["conditions"][1]["status"] == "True"
    assert _state(restarted, "c")["restartCount"] == 1
    assert ("stop_container", "c") in h.runtime.calls
    assert any(r == "Unhealthy" for _t, r, _m in h.events)


def test_not_ready_until_the_startup_probe_passed_without_a_readiness_probe(
        tmp_path: Path) -> None:
    # the upstream client's port-forward e2e waits for `ready` and then dials the port its
    # startup probe checks: ready before the probe passed made that dial fail now and then
    h = harness(tmp_path)
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 1, "failureThreshold": 30}
    p = pod(containers=[{"name": "c", "image": BB, "startupProbe": probe}])

    async def go() -> tuple[dict, dict]:  # type: ignore[type-arg]
        h.runtime.exec_exit["c"] = 1
        first = await h.worker.sync(p, StaticLookup())
        h.runtime.exec_exit["c"] = 0
        await h.clock.advance(1)
        started = await h.worker.sync(p, StaticLookup())
        h.worker.stop_probes()
        return first, started

    first, started = run(go())
    assert not _state(first, "c")["started"] and not _state(first, "c")["ready"]
    assert first["conditions"][1]["status"] == "False"
    assert _state(started, "c")["started"] and _state(started, "c")["ready"]


def test_terminate_stops_then_removes(tmp_path: Path) -> None:
    h = harness(tmp_path)
    p = pod(containers=[{"name": "a", "image": BB}, {"name": "b", "image": BB}],
            volumes=[{"name": "v", "emptyDir": {}}])

    async def go() -> None:
        await h.worker.sync(p, StaticLookup())
        await h.worker.terminate(p, 5)

    run(go())
    calls = [c for c, _ in h.runtime.calls]
    assert calls.count("stop_container") == 2
    last_stop = max(i for i, c in enumerate(calls) if c == "stop_container")
    assert calls.index("stop_sandbox") > last_stop
    assert calls[-1] == "remove_sandbox"
    assert not h.runtime.sandboxes and not h.runtime.containers
    assert not (tmp_path / "root" / "pods" / "uid-p1").exists()


def test_terminal_pod_releases_its_sandbox_once(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.runtime.exit_on_start["c"] = 0
    p = pod(restartPolicy="Never")

    async def go() -> dict:  # type: ignore[type-arg]
        await h.worker.sync(p, StaticLookup())
        return await h.worker.sync(p, StaticLookup())

    status = run(go())
    calls = [c for c, _ in h.runtime.calls]
    assert status["phase"] == "Succeeded"
    assert calls.count("run_sandbox") == 1 and calls.count("stop_sandbox") == 1
    assert h.runtime.containers  # kept for `kubectl logs`


def test_restarted_kubelet_adopts_running_pod(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.runtime.exit_on_start["c"] = 1
    p = pod()

    async def go() -> dict:  # type: ignore[type-arg]
        await h.worker.sync(p, StaticLookup())
        await h.worker.sync(p, StaticLookup())
        fresh = harness(tmp_path / "again")
        fresh.worker.runtime = h.runtime
        return await fresh.worker.sync(p, StaticLookup())

    status = run(go())
    assert [c for c, _ in h.runtime.calls].count("run_sandbox") == 1
    assert _state(status, "c")["restartCount"] >= 1


def test_projected_and_downward_api_volumes(tmp_path: Path) -> None:
    h = harness(tmp_path)
    lookup = StaticLookup(configmaps={("default", "root-ca"): {"ca.crt": "CA"}})
    c = {"name": "c", "image": BB, "volumeMounts": [{"name": "api", "mountPath": "/var/run/sa"},
                                                      {"name": "info", "mountPath": "/info"}]}
    p = pod(containers=[c], volumes=[
        {"name": "api", "projected": {"defaultMode": 0o440, "sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
            {"configMap": {"name": "root-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                "fieldPath": "metadata.namespace"}}]}}]}},
        {"name": "info", "downwardAPI": {"items": [
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}}])
    run(h.worker.sync(p, lookup))
    mounts = {m.container_path: Path(m.host_path)
              for m in next(iter(h.runtime.containers.values())).config.mounts}
    sa = mounts["/var/run/sa"]
    assert (sa / "token").read_text() == "token-for-default-default"
    assert (sa / "ca.crt").read_text() == "CA" and (sa / "namespace").read_text() == "default"
    assert (sa / "token").stat().st_mode & 0o777 == 0o440
    assert (mounts["/info"] / "name").read_text() == "p1"


def test_finished_pod_is_not_rerun_by_a_new_worker(tmp_path: Path) -> None:
    h = harness(tmp_path)
    p = pod(restartPolicy="Never")
    p["status"] = {"phase": "Succeeded", "containerStatuses": []}
    status = run(h.worker.sync(p, StaticLookup()))
    assert status["phase"] == "Succeeded" and not h.runtime.calls


def test_dead_sandbox_is_replaced_and_removed(tmp_path: Path) -> None:
    from dataclasses import replace

    h = harness(tmp_path)
    p = pod()

    async def go() -> dict:  # type: ignore[type-arg]
        await h.worker.sync(p, StaticLookup())
        old = h.worker.sandbox_id
        h.runtime.sandboxes[old] = replace(h.runtime.sandboxes[old], state="notready")
        status = await h.worker.sync(p, StaticLookup())
        assert old not in h.runtime.sandboxes and h.worker.sandbox_id != old
        return status

    status = run(go())
    assert [c for c, _ in h.runtime.calls].count("run_sandbox") == 2
    assert "running" in _state(status, "c")["state"]
    assert h.worker.sandbox is not None and h.worker.sandbox.attempt == 1


def test_big_logs_are_rotated_and_reopened(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.worker.settings = replace_settings(h.worker.settings, log_max_bytes=100)
    p = pod()

    async def go() -> None:
        await h.worker.sync(p, StaticLookup())
        log = tmp_path / "logs" / "default_p1_uid-p1" / "c" / "0.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_bytes(b"y" * 200)
        await h.worker.sync(p, StaticLookup())
        assert not log.exists() and len(list(log.parent.glob("0.log.*"))) == 1

    run(go())
    assert ("reopen_container_log", "c") in h.runtime.calls


def replace_settings(settings, **changes):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(settings, **changes)
