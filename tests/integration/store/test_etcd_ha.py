"""A 3-member etcd over TLS: the store and its watches keep working when a member dies."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from kboot.controlplane.store import KeyExists, Store, StoreUnavailable, open_store
from tests.fixtures.etcd import start_etcd
from tests.unit.store.contract import take

pytestmark = pytest.mark.integration


async def create_retrying(store: Store, key: str, value: bytes) -> int:
    """What a client does with 503s: retry; a timed-out write may have committed meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        try:
            return await store.create(key, value)
        except StoreUnavailable:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)
        except KeyExists:
            kv = await store.get(key)
            assert kv is not None and kv.value == value
            return kv.mod_revision


def test_member_loss_fails_over_and_watch_resumes() -> None:
    with start_etcd(members=3) as cluster:
        assert len(cluster.endpoints) == 3
        members = cluster.etcdctl("member", "list")
        assert members.returncode == 0 and members.stdout.count("started") == 3

        async def main() -> None:
            store = open_store(cluster.url)
            try:
                start = await store.current_revision()
                events = store.watch("/ha/", from_revision=start)
                await store.create("/ha/before", b"1")
                assert [e.kv.key for e in await take(events, 1)] == ["/ha/before"]
                os.kill(cluster.pids[0], signal.SIGKILL)  # the endpoint the store uses first
                rev = await create_retrying(store, "/ha/after", b"2")
                kv = await store.get("/ha/after")
                assert kv is not None and kv.mod_revision == rev
                got = await take(events, 1, timeout=30)
                assert [(e.kv.key, e.kv.mod_revision) for e in got] == [("/ha/after", rev)]
            finally:
                await store.close()

        asyncio.run(main())
