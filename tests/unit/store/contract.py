"""The Store contract, written once and run against every backend.

A test module subclasses :class:`StoreContract` and provides a ``backend`` fixture (a
:class:`Backend`: a store URL plus a key prefix private to the test, so a shared etcd works).
Revisions are global, so the assertions are about order and relations, never absolute numbers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from kboot.controlplane.store import (
    Compacted,
    KeyExists,
    KeyNotFound,
    PrefixNotEmpty,
    RevisionConflict,
    Store,
    WatchEvent,
    open_store,
)

Case = Callable[[Store, str], Awaitable[None]]

#: Smallest TTL every backend honours (etcd's minimum lease TTL is about 2 s).
TTL = 2


@dataclass(frozen=True)
class Backend:
    url: str
    prefix: str
    timeout: float = 30.0

    def run(self, case: Case) -> None:
        async def main() -> None:
            store = open_store(self.url)
            try:
                await asyncio.wait_for(case(store, self.prefix), self.timeout)
            finally:
                await store.close()

        asyncio.run(main())


def unique_prefix() -> str:
    return f"/kboot-test/{uuid.uuid4().hex[:10]}/"


async def take(events: AsyncIterator[WatchEvent], n: int, timeout: float = 10) -> list[WatchEvent]:
    async def collect() -> list[WatchEvent]:
        got: list[WatchEvent] = []
        async for event in events:
            got.append(event)
            if len(got) == n:
                break
        return got

    return await asyncio.wait_for(collect(), timeout)


class StoreContract:
    # -- get / create / list -------------------------------------------------------------------

    def test_create_then_get(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            assert await store.get(p + "a") is None
            rev = await store.create(p + "a", b"one")
            kv = await store.get(p + "a")
            assert kv is not None
            assert (kv.key, kv.value) == (p + "a", b"one")
            assert (kv.create_revision, kv.mod_revision) == (rev, rev)
            assert await store.current_revision() >= rev

        backend.run(case)

    def test_create_existing_raises(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            await store.create(p + "a", b"one")
            with pytest.raises(KeyExists):
                await store.create(p + "a", b"two")
            kv = await store.get(p + "a")
            assert kv is not None and kv.value == b"one"

        backend.run(case)

    def test_create_unless_prefix_holds_a_key(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            # an empty prefix lets the create through, in one atomic write
            await store.create(p + "obj/a", b"1", absent=p + "guard/")
            await store.create(p + "guard/q", b"quota")
            with pytest.raises(PrefixNotEmpty):
                await store.create(p + "obj/b", b"2", absent=p + "guard/")
            assert await store.get(p + "obj/b") is None
            with pytest.raises(KeyExists):  # an existing key wins over the prefix
                await store.create(p + "obj/a", b"3", absent=p + "guard/")
            await store.create(p + "obj/c", b"4", absent=p + "guard/other/")
            kv = await store.get(p + "guard/q")
            assert kv is not None
            await store.delete(p + "guard/q")
            await store.create(p + "obj/b", b"2", absent=p + "guard/")  # a deleted key is gone

        backend.run(case)

    def test_revisions_strictly_increase(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            revs = [await store.create(f"{p}k{i}", b"v") for i in range(5)]
            assert revs == sorted(set(revs))

        backend.run(case)

    def test_list_prefix_in_key_order(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            for name in ["b", "a", "c/x", "c"]:
                await store.create(p + name, name.encode())
            await store.create(p[:-1] + "-sibling", b"not under the prefix")
            result = await store.list(p)
            assert [kv.key for kv in result.items] == [p + "a", p + "b", p + "c", p + "c/x"]
            assert not result.more
            assert result.revision == await store.current_revision()
            assert await store.count(p) == 4
            assert await store.count(p + "c") == 2

        backend.run(case)

    def test_list_limit_and_continue(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            for i in range(7):
                await store.create(f"{p}{i:02d}", b"v")
            seen: list[str] = []
            after = ""
            rev = await store.current_revision()
            while True:
                page = await store.list(p, limit=3, start_after=after, revision=rev)
                seen += [kv.key for kv in page.items]
                assert page.revision == rev
                if not page.more:
                    break
                assert len(page.items) == 3
                after = page.items[-1].key
            assert seen == [f"{p}{i:02d}" for i in range(7)]

        backend.run(case)

    def test_list_at_old_revision(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            r1 = await store.create(p + "a", b"1")
            await store.create(p + "b", b"1")
            before_delete = await store.update(p + "a", b"2", expected_revision=r1)
            await store.delete(p + "b")
            await store.create(p + "c", b"1")
            old = await store.list(p, revision=r1)
            assert [(kv.key, kv.value) for kv in old.items] == [(p + "a", b"1")]
            assert old.revision == r1
            mid = await store.list(p, revision=before_delete)
            assert [(kv.key, kv.value) for kv in mid.items] == [(p + "a", b"2"), (p + "b", b"1")]
            now = await store.list(p)
            assert [kv.key for kv in now.items] == [p + "a", p + "c"]

        backend.run(case)

    # -- update / delete -----------------------------------------------------------------------

    def test_update_cas(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            r1 = await store.create(p + "a", b"1")
            r2 = await store.update(p + "a", b"2", expected_revision=r1)
            assert r2 > r1
            with pytest.raises(RevisionConflict) as err:
                await store.update(p + "a", b"3", expected_revision=r1)
            assert err.value.current is not None
            assert (err.value.current.value, err.value.current.mod_revision) == (b"2", r2)
            kv = await store.get(p + "a")
            assert kv is not None
            assert (kv.value, kv.create_revision, kv.mod_revision) == (b"2", r1, r2)

        backend.run(case)

    def test_update_missing_raises(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            with pytest.raises(KeyNotFound):
                await store.update(p + "nope", b"x", expected_revision=5)

        backend.run(case)

    def test_delete(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            r1 = await store.create(p + "a", b"1")
            r2 = await store.update(p + "a", b"2", expected_revision=r1)
            with pytest.raises(RevisionConflict) as err:
                await store.delete(p + "a", expected_revision=r1)
            assert err.value.current is not None and err.value.current.mod_revision == r2
            gone = await store.delete(p + "a", expected_revision=r2)
            assert (gone.key, gone.value, gone.create_revision) == (p + "a", b"2", r1)
            assert gone.mod_revision > r2
            assert await store.get(p + "a") is None
            with pytest.raises(KeyNotFound):
                await store.delete(p + "a")
            again = await store.create(p + "a", b"new")
            kv = await store.get(p + "a")
            assert kv is not None and kv.create_revision == again > gone.mod_revision

        backend.run(case)

    # -- watch ---------------------------------------------------------------------------------

    def test_watch_history_then_live(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            start = await store.current_revision()
            r1 = await store.create(p + "a", b"1")
            r2 = await store.update(p + "a", b"2", expected_revision=r1)
            events = store.watch(p, from_revision=start)
            first = await take(events, 2)
            assert [(e.type, e.kv.value, e.kv.mod_revision) for e in first] == [
                ("PUT", b"1", r1),
                ("PUT", b"2", r2),
            ]
            assert first[0].prev_kv is None
            assert first[1].prev_kv is not None and first[1].prev_kv.value == b"1"
            deleted = await store.delete(p + "a")
            r4 = await store.create(p + "b", b"b")
            live = await take(events, 2)
            assert [(e.type, e.kv.key, e.kv.mod_revision) for e in live] == [
                ("DELETE", p + "a", deleted.mod_revision),
                ("PUT", p + "b", r4),
            ]
            assert live[0].kv.value == b""
            assert live[0].prev_kv is not None and live[0].prev_kv.value == b"2"
            await events.aclose()  # type: ignore[attr-defined]

        backend.run(case)

    def test_watch_filters_prefix_and_skips_old(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            await store.create(p + "x/old", b"0")
            start = await store.current_revision()
            await store.create(p + "y/1", b"1")
            r = await store.create(p + "x/1", b"1")
            events = store.watch(p + "x/", from_revision=start)
            got = await take(events, 1)
            assert [(e.kv.key, e.kv.mod_revision) for e in got] == [(p + "x/1", r)]

        backend.run(case)

    def test_watch_after_compaction_raises(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            r1 = await store.create(p + "a", b"1")
            for i in range(3):
                await store.create(f"{p}b{i}", b"1")
            now = await store.current_revision()
            await store.compact(now)
            with pytest.raises(Compacted):
                await take(store.watch(p, from_revision=r1 - 1), 1, timeout=5)
            with pytest.raises(Compacted):
                await store.list(p, revision=r1)
            # History from the compaction point on is still served.
            r = await store.create(p + "c", b"1")
            got = await take(store.watch(p, from_revision=now), 1)
            assert got[0].kv.mod_revision == r

        backend.run(case)

    def test_concurrent_watchers_see_same_order(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            start = await store.current_revision()
            watches = [store.watch(p, from_revision=start) for _ in range(3)]
            readers = [asyncio.create_task(take(w, 20)) for w in watches]
            await asyncio.gather(*(store.create(f"{p}{i}", b"v") for i in range(20)))
            results = await asyncio.gather(*readers)
            orders = [[e.kv.mod_revision for e in r] for r in results]
            assert orders[0] == sorted(orders[0]) and len(set(orders[0])) == 20
            assert orders[0] == orders[1] == orders[2]

        backend.run(case)

    # -- TTL and concurrency -------------------------------------------------------------------

    def test_ttl_key_expires_with_delete_event(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            start = await store.current_revision()
            rev = await store.create(p + "event", b"e", ttl=TTL)
            kv = await store.get(p + "event")
            assert kv is not None and kv.lease != 0
            r2 = await store.update(p + "event", b"e2", expected_revision=rev)
            kv = await store.get(p + "event")
            assert kv is not None and kv.lease != 0, "update keeps the key's lease"
            await store.create(p + "plain", b"p")
            # the timeout bounds a key that never expires; how soon is not asserted (a loaded
            # machine decides that)
            got = await take(store.watch(p + "event", from_revision=start), 3, timeout=TTL + 30)
            assert [e.type for e in got] == ["PUT", "PUT", "DELETE"]
            assert got[2].prev_kv is not None and got[2].prev_kv.mod_revision == r2
            assert await store.get(p + "event") is None
            assert await store.get(p + "plain") is not None

        backend.run(case)

    def test_concurrent_writers_one_winner(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            rev = await store.create(p + "counter", b"0")

            async def bump(i: int) -> bool:
                try:
                    await store.update(p + "counter", str(i).encode(), expected_revision=rev)
                except RevisionConflict:
                    return False
                return True

            wins = await asyncio.gather(*(bump(i) for i in range(10)))
            assert sum(wins) == 1
            created = await asyncio.gather(
                *(store.create(p + "same", b"x") for _ in range(5)), return_exceptions=True
            )
            assert sum(isinstance(c, int) for c in created) == 1
            assert sum(isinstance(c, KeyExists) for c in created) == 4

        backend.run(case)

    def test_concurrent_increments_converge(self, backend: Backend) -> None:
        async def case(store: Store, p: str) -> None:
            await store.create(p + "n", b"0")

            async def increment() -> None:
                while True:
                    kv = await store.get(p + "n")
                    assert kv is not None
                    try:
                        new = str(int(kv.value) + 1).encode()
                        await store.update(p + "n", new, expected_revision=kv.mod_revision)
                        return
                    except RevisionConflict:
                        continue

            await asyncio.gather(*(increment() for _ in range(15)))
            kv = await store.get(p + "n")
            assert kv is not None and kv.value == b"15"

        backend.run(case)
