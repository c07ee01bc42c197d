"""Informers over the fake: sync, handlers, indexes, relist after Expired."""

from __future__ import annotations

import asyncio

from kboot.controlplane.client.api import DeleteOptions
from kboot.controlplane.client.clock import FakeClock, run_until_idle
from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.client.informer import Handlers, Informer


def _pod(name: str, node: str = "") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": {"nodeName": node}}


def test_informer_syncs_dispatches_and_indexes() -> None:
    async def go() -> None:
        c = FakeClient()
        await c.create("pods", _pod("a", "n1"))
        inf = Informer(c, "pods")
        events: list[tuple[str, str]] = []
        inf.add_handlers(Handlers(
            on_add=lambda o: events.append(("add", o["metadata"]["name"])),
            on_update=lambda old, new: events.append(("update", new["metadata"]["name"])),
            on_delete=lambda o: events.append(("delete", o["metadata"]["name"]))))
        task = asyncio.create_task(inf.run())
        await asyncio.wait_for(inf.wait_synced(), 1)
        await c.create("pods", _pod("b", "n2"))
        await c.patch("pods", "a", {"metadata": {"labels": {"x": "y"}}}, namespace="ns")
        await c.delete("pods", "b", namespace="ns",
                       options=DeleteOptions(grace_period_seconds=0))
        await run_until_idle()
        assert events == [("add", "a"), ("add", "b"), ("update", "a"), ("delete", "b")]
        assert [p["metadata"]["name"] for p in inf.by_index("nodeName", "n1")] == ["a"]
        assert inf.by_index("nodeName", "n2") == []
        task.cancel()

    asyncio.run(go())


def test_informer_relists_after_expired_and_sees_missed_deletes() -> None:
    async def go() -> None:
        c = FakeClient()
        await c.create("pods", _pod("a"))
        inf = Informer(c, "pods")
        deleted: list[str] = []
        inf.add_handlers(Handlers(on_delete=lambda o: deleted.append(o["metadata"]["name"])))
        task = asyncio.create_task(inf.run())
        await inf.wait_synced()
        # make the informer miss history: stop its watch, change things, compact
        inf_rv = inf.resource_version
        c.graceful_pod_deletion = False
        watchers = list(c._watchers)
        c._watchers.clear()
        await c.delete("pods", "a", namespace="ns")
        await c.create("pods", _pod("z"))
        c.compact()
        for w in watchers:
            w.queue.put_nowait(None)
        await run_until_idle()
        assert deleted == ["a"]
        assert set(inf.cache) == {"ns/z"}
        assert inf.resource_version != inf_rv
        task.cancel()

    asyncio.run(go())


def test_resync_replays_cached_objects_as_updates() -> None:
    async def go() -> list[int]:
        clock = FakeClock()
        c = FakeClient(clock=clock)
        await c.create("pods", _pod("a"))
        inf = Informer(c, "pods", resync_period=30, clock=clock)
        updates: list[str] = []
        inf.add_handlers(Handlers(on_update=lambda old, new: updates.append(
            new["metadata"]["name"])))
        task = asyncio.create_task(inf.run())
        counts = []
        for step in (29, 2, 30):
            await clock.advance(step)
            counts.append(len(updates))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return counts

    assert asyncio.run(go()) == [0, 1, 2]  # one replay per period, none before
