"""The Store contract against a real etcd over TLS, plus what only etcd has (endpoints, TLS)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from kboot.controlplane.store import Compacted, StoreUnavailable, open_store
from tests.fixtures.etcd import EtcdCluster, start_etcd
from tests.unit.store.contract import Backend, StoreContract, take, unique_prefix

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def private_etcd() -> Iterator[EtcdCluster]:
    """Our own etcd: the contract compacts history, which must not disturb the shared one."""
    with start_etcd() as cluster:
        yield cluster


@pytest.fixture
def backend(private_etcd: EtcdCluster) -> Backend:
    return Backend(private_etcd.url, unique_prefix())


class TestEtcdContract(StoreContract):
    pass


def test_without_client_cert_is_refused(private_etcd: EtcdCluster) -> None:
    url = f"etcd://{private_etcd.endpoints[0]}?cacert={private_etcd.ca_file}&timeout=3"

    async def main() -> None:
        store = open_store(url)
        try:
            with pytest.raises(StoreUnavailable):
                await store.get("/x")
        finally:
            await store.close()

    asyncio.run(main())


def test_fails_over_to_a_live_endpoint(private_etcd: EtcdCluster) -> None:
    from tests.fixtures.etcd import free_port

    dead = f"127.0.0.1:{free_port()}"
    url = private_etcd.url.replace("etcd://", f"etcd://{dead},", 1)

    async def main() -> None:
        store = open_store(url)
        try:
            key = unique_prefix() + "k"
            rev = await store.create(key, b"v")
            kv = await store.get(key)
            assert kv is not None and kv.mod_revision == rev
        finally:
            await store.close()

    asyncio.run(main())


def test_compaction_by_another_client_is_reported(private_etcd: EtcdCluster) -> None:
    prefix = unique_prefix()

    async def main() -> None:
        store = open_store(private_etcd.url)
        try:
            first = await store.create(prefix + "a", b"1")
            await store.create(prefix + "b", b"1")
            now = await store.current_revision()
            compacted = private_etcd.etcdctl("compact", str(now))
            assert compacted.returncode == 0, compacted.stderr
            with pytest.raises(Compacted) as err:
                await store.list(prefix, revision=first)
            assert (err.value.requested, err.value.compacted) == (first, now)
            with pytest.raises(Compacted) as werr:
                await take(store.watch(prefix, from_revision=first - 1), 1, timeout=5)
            assert werr.value.compacted == now
        finally:
            await store.close()

    asyncio.run(main())
