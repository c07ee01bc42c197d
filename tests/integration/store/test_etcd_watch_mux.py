"""All of a store's watches share one etcd stream (``etcd_watch.WatchMux``): each watch gets
exactly its prefix's events in order, and closing one leaves the others running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kboot.controlplane.store import open_store
from kboot.controlplane.store.base import WatchEvent
from tests.fixtures.etcd import EtcdCluster
from tests.unit.store.contract import unique_prefix

pytestmark = pytest.mark.integration

WATCHES = 12
WRITES = 5


async def _take(events: AsyncIterator[WatchEvent], n: int) -> list[WatchEvent]:
    out = []
    async for event in events:
        out.append(event)
        if len(out) == n:
            break
    return out


def test_many_watches_share_one_stream_and_stay_separate(etcd_server: EtcdCluster) -> None:
    base = unique_prefix()

    async def main() -> None:
        store = open_store(etcd_server.url)
        try:
            start = await store.current_revision()
            prefixes = [f"{base}w{i}/" for i in range(WATCHES)]
            early = store.watch(prefixes[0], from_revision=start)
            readers = [asyncio.create_task(_take(store.watch(p, from_revision=start), WRITES))
                       for p in prefixes[1:]]
            closed = asyncio.create_task(_take(early, 1))
            await store.create(prefixes[0] + "k", b"v")
            assert [e.kv.key for e in await closed] == [prefixes[0] + "k"]
            await early.aclose()  # type: ignore[attr-defined]
            revs: dict[str, list[int]] = {}
            for round_ in range(WRITES):
                for p in prefixes:
                    rev = await store.create(f"{p}{round_}", b"x")
                    revs.setdefault(p, []).append(rev)
            results = await asyncio.wait_for(asyncio.gather(*readers), 60)
            for p, got in zip(prefixes[1:], results, strict=True):
                assert [e.kv.key for e in got] == [f"{p}{r}" for r in range(WRITES)]
                assert [e.kv.mod_revision for e in got] == revs[p]
        finally:
            await store.close()

    asyncio.run(main())
