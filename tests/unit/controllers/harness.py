"""Run one controller over the fake apiserver: seed objects, sync informers, reconcile keys."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kboot.controlplane.client.events import EventRecorder
from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.client.informer import Informers
from kboot.controlplane.controllers.base import Controller, ControllerContext, Options

C = TypeVar("C", bound=Controller)
Obj = dict[str, Any]


class Harness:
    def __init__(self, fake: FakeClient, controller: Controller, informers: Informers) -> None:
        self.fake, self.controller, self.informers = fake, controller, informers

    async def settle(self) -> None:
        for _ in range(3):
            await asyncio.sleep(0.005)

    async def reconcile(self, key: str) -> Any:
        await self.settle()
        result = await self.controller.reconcile(key)
        await self.settle()
        return result


def run(cls: type[C], seeds: list[tuple[str, Obj]],
        body: Callable[[Harness], Awaitable[None]], *, options: Options | None = None) -> None:
    async def go() -> None:
        fake = FakeClient()
        for ref, obj in seeds:
            fake.seed(ref, obj)
        informers = Informers(fake)
        ctx = ControllerContext(client=fake, informers=informers,
                                recorder=EventRecorder(fake, "test"),
                                options=options or Options())
        controller = cls(ctx)
        informers.start()
        await informers.wait_synced(2)
        try:
            await body(Harness(fake, controller, informers))
        finally:
            await informers.stop()

    asyncio.run(go())


def template(app: str = "web", image: str = "nginx:1") -> Obj:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": image}]}}


def ready_pod(pod: Obj, node: str = "n1") -> Obj:
    pod.setdefault("spec", {})["nodeName"] = node
    pod["status"] = {"phase": "Running", "podIP": "10.244.0.5",
                     "conditions": [{"type": "Ready", "status": "True"}]}
    return pod
