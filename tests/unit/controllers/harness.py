"""Run one controller over the fake apiserver: seed objects, sync informers, reconcile keys.

Time is a :class:`FakeClock` (``h.clock``): a test that needs time to pass advances it; the
informers and the fake client meet through in-loop queues, so "settled" means "the loop is
idle", never "some milliseconds went by".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kboot.controlplane.client.clock import FakeClock, run_until_idle
from kboot.controlplane.client.events import EventRecorder
from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.client.informer import Informers
from kboot.controlplane.controllers.base import Controller, ControllerContext, Options

C = TypeVar("C", bound=Controller)
Obj = dict[str, Any]


class Harness:
    def __init__(self, fake: FakeClient, controller: Controller, informers: Informers,
                 clock: FakeClock) -> None:
        self.fake, self.controller, self.informers = fake, controller, informers
        self.clock = clock

    async def settle(self) -> None:
        """Let every watch event already emitted reach the informers and their handlers."""
        await run_until_idle()

    async def reconcile(self, key: str) -> Any:
        await self.settle()
        result = await self.controller.reconcile(key)
        await self.settle()
        return result


def run(cls: type[C], seeds: list[tuple[str, Obj]],
        body: Callable[[Harness], Awaitable[None]], *, options: Options | None = None) -> None:
    async def go() -> None:
        clock = FakeClock()
        fake = FakeClient(clock=clock)
        for ref, obj in seeds:
            fake.seed(ref, obj)
        informers = Informers(fake, clock=clock)
        ctx = ControllerContext(client=fake, informers=informers,
                                recorder=EventRecorder(fake, "test", clock=clock),
                                options=options or Options(), clock=clock)
        controller = cls(ctx)
        informers.start()
        await informers.wait_synced(2)
        try:
            await body(Harness(fake, controller, informers, clock))
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
