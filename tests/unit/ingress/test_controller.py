"""The controller loop over the fake apiserver and a recording proxy: debounced syncs, the
default IngressClass, Events only on change, and the shared ``status.loadBalancer``."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Any

from kboot.controlplane.client.clock import FakeClock
from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.ingress.config import RenderedConfig
from kboot.controlplane.ingress.controller import IngressController, Settings
from tests.unit.ingress.objects import endpoints, ingress, ingress_class, path, rule, service

Obj = dict[str, Any]


class RecordingProxy:
    def __init__(self) -> None:
        self.applied: list[RenderedConfig] = []
        self.on_exit: Callable[[], None] | None = None

    async def apply(self, rendered: RenderedConfig) -> bool:
        changed = not self.applied or self.applied[-1].haproxy_cfg != rendered.haproxy_cfg
        self.applied.append(rendered)
        return changed

    async def stop(self) -> None:
        pass


def _clock(fake: FakeClient) -> FakeClock:
    assert isinstance(fake.clock, FakeClock)
    return fake.clock


async def _until(fake: FakeClient, check: Callable[[], bool], limit: float = 30.0) -> None:
    """Advance the test's fake clock until ``check()`` holds (``limit`` simulated seconds)."""
    await _clock(fake).advance_until(check, step=0.01, limit=limit)


def _run(seeds: list[tuple[str, Obj]],
         body: Callable[[FakeClient, IngressController, RecordingProxy], Awaitable[None]],
         *, node_ip: str = "10.0.0.1") -> None:
    async def go() -> None:
        clock = FakeClock()
        fake = FakeClient(clock=clock)
        for ref, obj in seeds:
            fake.seed(ref, copy.deepcopy(obj))
        proxy = RecordingProxy()
        ctl = IngressController(fake, proxy, Settings(node_name="n1", node_ip=node_ip,
                                                      bind_addresses=(), debounce=0.02),
                                clock=clock)
        task = asyncio.create_task(ctl.run())
        try:
            await _until(fake, lambda: bool(proxy.applied))
            await body(fake, ctl, proxy)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    asyncio.run(go())


def _events(fake: FakeClient, name: str) -> list[Obj]:
    return [e for e in fake.all("events", "default") if e["involvedObject"]["name"] == name]


def test_creates_default_class_and_sets_status() -> None:
    web = ingress("web", rule("a.example.test", path("/", "svc")), class_name=None)
    seeds = [("ingresses", web), ("services", service("svc", ("http", 80))),
             ("endpoints", endpoints("svc", ["10.1.0.5"], [("http", 8080)]))]

    async def body(fake: FakeClient, ctl: IngressController, proxy: RecordingProxy) -> None:
        [cls] = fake.all("ingressclasses")
        assert cls["metadata"]["name"] == "kboot"
        assert cls["metadata"]["annotations"] == {
            "ingressclass.kubernetes.io/is-default-class": "true"}
        await _until(fake, lambda: bool(fake.all("ingresses", "default")[0].get("status", {})
                                  .get("loadBalancer", {}).get("ingress")))
        [ing] = fake.all("ingresses", "default")
        assert ing["status"]["loadBalancer"]["ingress"] == [{"ip": "10.0.0.1"}]
        assert "server s1 10.1.0.5:8080" in proxy.applied[-1].haproxy_cfg
    _run(seeds, body)


def test_existing_default_class_of_another_controller_is_respected() -> None:
    other = ingress_class("nginx", controller="k8s.io/nginx", default=True)

    async def body(fake: FakeClient, ctl: IngressController, proxy: RecordingProxy) -> None:
        classes = {c["metadata"]["name"]: c for c in fake.all("ingressclasses")}
        assert set(classes) == {"nginx", "kboot"}
        assert "annotations" not in classes["kboot"]["metadata"]
    _run([("ingressclasses", other)], body)


def test_events_are_recorded_once_per_problem_and_status_merges_other_nodes() -> None:
    broken = ingress("broken", rule("b.example.test", path("/", "missing")))
    broken["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.9"}]}}
    seeds = [("ingressclasses", ingress_class(default=True)), ("ingresses", broken)]

    async def body(fake: FakeClient, ctl: IngressController, proxy: RecordingProxy) -> None:
        await _until(fake, lambda: bool(_events(fake, "broken")))
        before = len(proxy.applied)
        for i in range(3):  # unrelated changes trigger re-renders
            await fake.create("services", service(f"other{i}", ("http", 80)),
                              namespace="default")
        await _until(fake, lambda: len(proxy.applied) > before)
        await _clock(fake).advance(0.1)
        [event] = _events(fake, "broken")
        assert (event["reason"], event["type"], event["count"]) == (
            "BackendServiceMissing", "Warning", 1)
        [ing] = fake.all("ingresses", "default")
        assert ing["status"]["loadBalancer"]["ingress"] == [{"ip": "10.0.0.1"},
                                                            {"ip": "10.0.0.9"}]
        await fake.create("services", service("missing", ("http", 80)), namespace="default")
        await _until(fake, lambda: any(e["reason"] == "Sync" for e in _events(fake, "broken")))
    _run(seeds, body)


def test_bursts_of_changes_are_debounced() -> None:
    async def body(fake: FakeClient, ctl: IngressController, proxy: RecordingProxy) -> None:
        before = len(proxy.applied)
        for i in range(20):
            await fake.create("services", service(f"s{i}", ("http", 80)), namespace="default")
        await _clock(fake).advance(0.3)
        assert 1 <= len(proxy.applied) - before <= 3
    _run([("ingressclasses", ingress_class(default=True))], body)


def test_status_is_removed_when_an_ingress_leaves_our_class() -> None:
    ing = ingress("moving", rule("m.example.test", path("/", "svc")))
    seeds = [("ingressclasses", ingress_class(default=True)), ("ingresses", ing)]

    async def body(fake: FakeClient, ctl: IngressController, proxy: RecordingProxy) -> None:
        def lb() -> list[Obj]:
            obj = fake.all("ingresses", "default")[0]
            return list(obj.get("status", {}).get("loadBalancer", {}).get("ingress") or [])
        await _until(fake, lambda: lb() == [{"ip": "10.0.0.1"}])
        current = await fake.get("ingresses", "moving", namespace="default")
        current["spec"]["ingressClassName"] = "elsewhere"
        await fake.replace("ingresses", current)
        await _until(fake, lambda: lb() == [])
    _run(seeds, body)
