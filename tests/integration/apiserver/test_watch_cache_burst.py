"""A write burst against the real apiserver (SQLite and etcd): a consistent list right after it
holds every acknowledged object, a watch from before it gets every create once in revision
order, an ``resourceVersion=0`` list served once the cache has delivered them holds them all
and claims a revision at least as new as the last acknowledged write, and every consistent list
taken *during* the burst (served from the watch cache once it catches up) holds every create
acknowledged before the list was sent, at a resourceVersion no older than theirs (issue 22)."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from kboot.controlplane.apiserver.errors import JsonObj
from tests.fixtures.apiserver import ApiServer

BURST = 400
CLIENTS = 20


async def _burst(server: ApiServer, ns: str) -> None:
    connector = aiohttp.TCPConnector(ssl=server.ssl_context(), limit=CLIENTS + 2)
    async with aiohttp.ClientSession(server.url, connector=connector) as http:
        base = f"/api/v1/namespaces/{ns}/configmaps"
        async with http.get(base) as resp:
            start = (await resp.json())["metadata"]["resourceVersion"]
        watched: list[tuple[str, int, str]] = []

        async def watch() -> None:
            async with http.get(f"{base}?watch=1&resourceVersion={start}") as resp:
                async for line in resp.content:
                    event = json.loads(line)
                    meta = event["object"]["metadata"]
                    watched.append((event["type"], int(meta["resourceVersion"]), meta["name"]))
                    if len(watched) == BURST:
                        return

        watcher = asyncio.create_task(watch())
        acked: dict[str, int] = {}
        names = iter(range(BURST))

        async def writer() -> None:
            for i in names:
                body = {"metadata": {"name": f"b{i}"}, "data": {"k": "v" * 200}}
                async with http.post(base, json=body) as resp:
                    assert resp.status == 201, await resp.text()
                    acked[f"b{i}"] = int((await resp.json())["metadata"]["resourceVersion"])

        lists: list[tuple[dict[str, int], JsonObj]] = []
        done = asyncio.Event()

        async def lister() -> None:  # consistent lists while the writers run
            while not done.is_set():
                before = dict(acked)
                async with http.get(base) as resp:
                    lists.append((before, await resp.json()))

        listing = asyncio.create_task(lister())
        await asyncio.gather(*(writer() for _ in range(CLIENTS)))
        done.set()
        await listing
        assert len(lists) >= 1
        for before, listed in lists:
            items = {o["metadata"]["name"]: int(o["metadata"]["resourceVersion"])
                     for o in listed["items"]}
            assert items.items() >= before.items()  # every acknowledged create, as acked
            assert int(listed["metadata"]["resourceVersion"]) >= max(before.values(), default=0)
            assert max(items.values(), default=0) <= int(listed["metadata"]["resourceVersion"])
        async with http.get(base) as resp:  # consistent: no waiting allowed, nothing missing
            consistent = await resp.json()
        assert {o["metadata"]["name"] for o in consistent["items"]} == set(acked)
        assert int(consistent["metadata"]["resourceVersion"]) >= max(acked.values())

        await asyncio.wait_for(watcher, 60)  # a guard against a hang, not a timing assertion
        assert [t for t, _, _ in watched] == ["ADDED"] * BURST
        assert [rv for _, rv, _ in watched] == sorted(acked.values())
        assert {name: rv for _, rv, name in watched} == acked

        async with http.get(f"{base}?resourceVersion=0") as resp:
            cached = await resp.json()
        assert int(cached["metadata"]["resourceVersion"]) >= max(acked.values())
        assert {o["metadata"]["name"]: int(o["metadata"]["resourceVersion"])
                for o in cached["items"]} == acked


def test_burst_lists_and_watch_see_every_acknowledged_create(server: ApiServer,
                                                            namespace: str) -> None:
    asyncio.run(_burst(server, namespace))
