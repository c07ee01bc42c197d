"""Backend specifics beyond the contract: URLs, SQLite persistence, slow watchers, at-rest bytes."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from kboot.controlplane.apiserver.encryption import EncryptionKey, Encryptor
from kboot.controlplane.store import Compacted, StoreError, open_store
from kboot.controlplane.store.broadcast import Hub
from kboot.controlplane.store.etcd import EtcdStore
from kboot.controlplane.store.etcd_channel import Endpoint, parse_endpoints
from kboot.controlplane.store.keys import prefix_end, range_start
from kboot.controlplane.store.memory import MemoryStore
from kboot.controlplane.store.sqlite import SqliteStore
from tests.unit.store.contract import take


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("memory://", MemoryStore),
        ("sqlite:///var/lib/kboot/state.db", SqliteStore),
        ("sqlite:///tmp/x.db?sync=full", SqliteStore),
        ("etcd://10.0.0.1:2379,10.0.0.2:2379?cacert=/ca&cert=/c&key=/k", EtcdStore),
    ],
)
def test_open_store_by_scheme(url: str, kind: type) -> None:
    assert isinstance(open_store(url), kind)


@pytest.mark.parametrize(
    ("url", "message"),
    [("redis://x", "unknown store URL scheme"), ("sqlite://relative.db", "absolute path")],
)
def test_open_store_rejects(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(url)


def test_parse_endpoints() -> None:
    assert parse_endpoints("a:1,b:2") == [Endpoint("a", 1), Endpoint("b", 2)]
    assert parse_endpoints("etcd-1") == [Endpoint("etcd-1", 2379)]
    assert parse_endpoints("[::1]:2380") == [Endpoint("::1", 2380)]
    assert [str(e) for e in parse_endpoints("[::1]:2380,h:1")] == ["[::1]:2380", "h:1"]
    with pytest.raises(ValueError):
        parse_endpoints("")


@pytest.mark.parametrize(
    ("prefix", "end"), [("/registry/pods/", "/registry/pods0"), ("a\U0010ffff", "b"), ("", "")]
)
def test_prefix_end(prefix: str, end: str) -> None:
    assert prefix_end(prefix) == end


def test_range_start() -> None:
    assert range_start("/p/", "") == "/p/"
    assert range_start("/p/", "/p/b") == "/p/b\x00"
    assert range_start("/p/", "/a") == "/p/"


def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/kboot.db"

    async def first() -> tuple[int, int]:
        store = open_store(url)
        r1 = await store.create("/k/a", b"1")
        await store.update("/k/a", b"2", expected_revision=r1)
        await store.create("/k/b", b"1")
        await store.compact(r1 + 1)
        rev = await store.current_revision()
        await store.close()
        return r1, rev

    async def second(r1: int, rev: int) -> None:
        store = open_store(url)
        try:
            assert await store.current_revision() == rev
            kv = await store.get("/k/a")
            assert kv is not None and (kv.value, kv.create_revision) == (b"2", r1)
            assert await store.create("/k/c", b"1") == rev + 1
            with pytest.raises(Compacted):
                await store.list("/k/", revision=r1)
        finally:
            await store.close()

    r1, rev = asyncio.run(first())
    asyncio.run(second(r1, rev))


def test_sqlite_file_holds_no_plaintext_secret(tmp_path: Path) -> None:
    enc = Encryptor([EncryptionKey("k1", os.urandom(32))])
    secret = b'{"data":{"password":"c3VwZXItc2VjcmV0LXBhc3N3b3Jk"}}'

    async def main() -> None:
        store = open_store(f"sqlite://{tmp_path}/kboot.db")
        try:
            await store.create("/registry/secrets/default/db", enc.encrypt(secret))
            kv = await store.get("/registry/secrets/default/db")
            assert kv is not None and enc.decrypt(kv.value) == secret
        finally:
            await store.close()

    asyncio.run(main())
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"/registry/secrets/default/db" in raw, "the key itself is stored in the clear"
    assert b"c3VwZXItc2VjcmV0" not in raw


def test_slow_watcher_catches_up_from_history() -> None:
    async def main() -> None:
        store = MemoryStore()
        store._hub = Hub(max_backlog=5)  # a tiny queue forces the overflow path
        start = await store.current_revision()
        events = store.watch("/k/", from_revision=start)
        await store.create("/k/0", b"v")
        first = await take(events, 1)
        for i in range(1, 40):
            await store.create(f"/k/{i}", b"v")
        rest = await take(events, 39)
        revs = [e.kv.mod_revision for e in first + rest]
        assert revs == list(range(start + 1, start + 41))

    asyncio.run(main())


def test_sqlite_file_has_one_owner(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/kboot.db"

    async def main() -> None:
        first, second = open_store(url), open_store(url)
        try:
            await first.create("/k", b"v")
            with pytest.raises(StoreError, match="in use by another process"):
                await second.get("/k")
        finally:
            await first.close()
            await second.close()
        third = open_store(url)
        try:
            assert await third.get("/k") is not None
        finally:
            await third.close()

    asyncio.run(main())


@pytest.mark.parametrize("scheme", ["memory", "sqlite"])
def test_store_outlives_an_event_loop(scheme: str, tmp_path: Path) -> None:
    """A store opened once may be used from successive asyncio.run() calls."""
    store = open_store("memory://" if scheme == "memory" else f"sqlite://{tmp_path}/k.db")

    async def write(key: str) -> int:
        return await store.create(key, b"v")

    async def watch_one(after: int) -> list[str]:
        start = await store.current_revision()
        events = store.watch("/", from_revision=after)
        await store.create("/live", b"v")
        got = await take(events, 2)
        assert got[-1].kv.mod_revision == start + 1
        return [e.kv.key for e in got]

    first = asyncio.run(write("/a"))
    asyncio.run(write("/b"))
    assert asyncio.run(watch_one(first)) == ["/b", "/live"]
    asyncio.run(store.close())
