"""The watch cache's catch-up semantics: after a burst every acknowledged write is in the cache
once it reports that revision, events reach subscribers in revision order, namespaced
subscribers see only their namespace, and ``wait_for`` wakes exactly when a revision is applied.
Plus the etcd watch's thread-to-loop feed (order kept, errors passed through)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator

import pytest

from kboot.controlplane.api.registry import ResourceKind, lookup
from kboot.controlplane.apiserver.errors import JsonObj
from kboot.controlplane.apiserver.fanout import Fanout, IndexSpec, Subscriber
from kboot.controlplane.apiserver.storage import ObjectStorage
from kboot.controlplane.apiserver.watch import classify
from kboot.controlplane.apiserver.watchcache import CacheEvent, KindCache, RevisionTracker
from kboot.controlplane.store import open_store
from kboot.controlplane.store.base import KeyValue, WatchEvent
from kboot.controlplane.store.etcd_watch import Feed, Item
from tests.unit.apiserver.harness import async_test, running


def _kind(plural: str) -> ResourceKind:
    kind = lookup("", plural)
    assert kind is not None
    return kind


CONFIGMAPS = _kind("configmaps")
SECRETS = _kind("secrets")


def cm(namespace: str, name: str) -> JsonObj:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace}, "data": {"k": "v"}}


async def running_cache(storage: ObjectStorage, kind: ResourceKind) -> tuple[KindCache,
                                                                          asyncio.Task[None]]:
    cache = KindCache(storage, kind)
    task = asyncio.create_task(cache.run())
    await cache.ready.wait()
    return cache, task


async def stopped(task: asyncio.Task[None], storage: ObjectStorage) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await storage.store.close()


def drain(sub: Subscriber) -> list[int]:
    revs = [event.rv for event in sub.queue]
    sub.queue.clear()
    return revs


@async_test
async def test_burst_every_acknowledged_object_is_in_the_cache_in_order() -> None:
    storage = ObjectStorage(open_store("memory://"))
    cache, task = await running_cache(storage, CONFIGMAPS)
    try:
        sub = cache.subscribe(cache.revision)
        created = await asyncio.gather(*(storage.create(CONFIGMAPS, cm("a", f"c{i}"))
                                         for i in range(300)))
        acked = {o["metadata"]["name"]: int(o["metadata"]["resourceVersion"]) for o in created}
        assert await cache.wait_for(max(acked.values()))
        items, revision = cache.snapshot("a")
        assert revision >= max(acked.values())
        assert {o["metadata"]["name"] for o in items} == set(acked)
        assert all(int(o["metadata"]["resourceVersion"]) == acked[o["metadata"]["name"]]
                   for o in items)
        delivered = drain(sub)
        assert delivered == sorted(acked.values())  # every event, once, in revision order
    finally:
        await stopped(task, storage)


@async_test
async def test_wait_for_wakes_when_the_revision_is_applied_and_times_out_otherwise() -> None:
    storage = ObjectStorage(open_store("memory://"))
    cache, task = await running_cache(storage, CONFIGMAPS)
    try:
        assert await cache.wait_for(cache.revision)  # already there: no wait
        target = cache.revision + 1
        waiter = asyncio.create_task(cache.wait_for(target, timeout=30))
        never = asyncio.create_task(cache.wait_for(target + 100, timeout=0.05))
        await storage.create(CONFIGMAPS, cm("a", "x"))
        assert await waiter
        assert cache.revision >= target and "x" in {o["metadata"]["name"]
                                                    for o in cache.snapshot("a")[0]}
        assert not await never
    finally:
        await stopped(task, storage)


@async_test
async def test_namespaced_subscribers_see_only_their_namespace_live_and_replayed() -> None:
    storage = ObjectStorage(open_store("memory://"))
    cache, task = await running_cache(storage, CONFIGMAPS)
    try:
        start = cache.revision
        in_a, in_b, everywhere = (cache.subscribe(start, "a"), cache.subscribe(start, "b"),
                                  cache.subscribe(start))
        revs = {}
        for ns, name in (("a", "1"), ("b", "2"), ("a", "3")):
            obj = await storage.create(CONFIGMAPS, cm(ns, name))
            revs[name] = int(obj["metadata"]["resourceVersion"])
        assert await cache.wait_for(revs["3"])
        assert drain(in_a) == [revs["1"], revs["3"]]
        assert drain(in_b) == [revs["2"]]
        assert drain(everywhere) == [revs["1"], revs["2"], revs["3"]]
        replayed = cache.subscribe(start, "b")  # from the event buffer
        assert drain(replayed) == [revs["2"]]
        for sub in (in_a, in_b, everywhere, replayed):
            cache.unsubscribe(sub)
        assert cache.subscriber_count() == 0
    finally:
        await stopped(task, storage)


class _BurstStore:
    """A store whose watch delivers one big batch without yielding (as the etcd feed does)."""

    def __init__(self, events: list[WatchEvent]) -> None:
        self.events = events
        self.delivered = asyncio.Event()

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0,
                   start_after: str = "") -> object:
        from kboot.controlplane.store.base import ListResult
        return ListResult([], 1, False)

    async def watch_gen(self) -> AsyncIterator[WatchEvent]:
        for event in self.events:
            yield event
        self.delivered.set()
        await asyncio.Event().wait()

    def watch(self, prefix: str, *, from_revision: int) -> AsyncIterator[WatchEvent]:
        return self.watch_gen()


@async_test
async def test_a_batch_is_applied_whole_with_deletes_and_updates() -> None:
    key = CONFIGMAPS.key
    raw = [(b'{"metadata":{"name":"a","namespace":"n"}}', key("n", "a")),
           (b'{"metadata":{"name":"b","namespace":"n"}}', key("n", "b"))]
    events = [WatchEvent("PUT", KeyValue(k, v, 2 + i, 2 + i), None)
              for i, (v, k) in enumerate(raw)]
    events.append(WatchEvent("PUT", KeyValue(raw[0][1], raw[0][0], 2, 4),
                             KeyValue(raw[0][1], raw[0][0], 2, 2)))
    events.append(WatchEvent("DELETE", KeyValue(raw[1][1], b"", 3, 5),
                             KeyValue(raw[1][1], raw[1][0], 3, 3)))
    fake = _BurstStore(events)
    storage = ObjectStorage(fake)  # type: ignore[arg-type]
    cache = KindCache(storage, CONFIGMAPS)
    seen: list[CacheEvent] = []
    cache.listeners.append(seen.append)  # subscribers are closed by the initial list
    task = asyncio.create_task(cache.run())
    try:
        await fake.delivered.wait()
        assert cache.revision == 5
        assert list(cache.objects) == [key("n", "a")]
        assert cache.objects[key("n", "a")]["metadata"]["resourceVersion"] == "4"
        assert [(e.type, e.rv) for e in seen] == [
            ("ADDED", 2), ("ADDED", 3), ("MODIFIED", 4), ("DELETED", 5)]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("items", [5000])
def test_feed_keeps_order_across_threads_and_passes_errors(items: int) -> None:
    async def scenario() -> None:
        feed = Feed(asyncio.get_running_loop())
        boom = RuntimeError("stream broke")

        def produce() -> None:
            for i in range(items):
                feed.put([WatchEvent("PUT", KeyValue(f"/k/{i}", b"", i + 1, i + 1), None)])
            feed.put(boom)

        thread = threading.Thread(target=produce)
        thread.start()
        seen: list[int] = []
        error: Item | None = None
        while error is None:
            for item in await feed.take():
                if isinstance(item, BaseException):
                    error = item
                else:
                    seen.extend(e.kv.mod_revision for e in item)
        thread.join()
        assert seen == list(range(1, items + 1))
        assert error is boom

    asyncio.run(scenario())


@async_test
async def test_selective_subscriber_queues_only_what_its_watcher_would_see() -> None:
    storage = ObjectStorage(open_store("memory://"))
    cache, task = await running_cache(storage, CONFIGMAPS)
    try:
        def accepts(event: CacheEvent) -> bool:
            return classify(event, lambda o: o["metadata"]["name"].startswith("keep"),
                            "a") is not None

        sub = cache.subscribe(cache.revision, "a", accepts)
        kept = await storage.create(CONFIGMAPS, cm("a", "keep-1"))
        last = await storage.create(CONFIGMAPS, cm("a", "drop-1"))
        assert await cache.wait_for(int(last["metadata"]["resourceVersion"]))
        assert drain(sub) == [int(kept["metadata"]["resourceVersion"])]
    finally:
        await stopped(task, storage)


@async_test
async def test_consistent_list_never_misses_a_write_the_cache_has_not_applied() -> None:
    async with running() as h:
        base = "/api/v1/namespaces/default/configmaps"
        await h.json("POST", base, {"metadata": {"name": "before"}}, expect=201)
        caches = h.state.caches
        caches.consistent_wait = 0.2  # the frozen cache never catches up: read the store soon
        frozen = caches.peek(CONFIGMAPS)
        for t in caches.tasks.values():
            if t.get_name() == f"watchcache-{frozen.prefix}":
                t.cancel()
                await asyncio.gather(t, return_exceptions=True)
        created = await h.json("POST", base, {"metadata": {"name": "after"}}, expect=201)
        assert frozen.revision < int(created["metadata"]["resourceVersion"])  # really behind
        consistent = await h.json("GET", base)
        assert {o["metadata"]["name"] for o in consistent["items"]} == {"before", "after"}
        stale = await h.json("GET", f"{base}?resourceVersion=0")  # rv=0 may be stale, is here
        assert {o["metadata"]["name"] for o in stale["items"]} == {"before"}


def _event(rv: int, app: str | None, prev_app: str | None, name: str = "x") -> CacheEvent:
    def obj(value: str | None) -> JsonObj:
        labels = {"app": value} if value is not None else {}
        return {"metadata": {"name": name, "namespace": "a", "labels": labels}}
    return CacheEvent("MODIFIED" if prev_app is not None else "ADDED", rv, obj(app),
                      obj(prev_app) if prev_app is not None else None)


def test_fanout_offers_indexed_subscribers_their_value_now_or_before() -> None:
    def app_of(o: JsonObj) -> str | None:
        return o["metadata"]["labels"].get("app")  # type: ignore[no-any-return]

    fanout = Fanout()
    web = Subscriber(0, "a", index=IndexSpec("label:app", app_of, "web"))
    db_everywhere = Subscriber(0, None, index=IndexSpec("label:app", app_of, "db"))
    plain = Subscriber(0, "a")
    other_ns = Subscriber(0, "b")
    for sub in (web, db_everywhere, plain, other_ns):
        fanout.add(sub)
    events = [_event(1, "web", None), _event(2, "db", "web"), _event(3, "db", None),
              _event(4, None, None), _event(5, "web", "db")]
    for event in events:
        fanout.offer(event, "a")
    assert drain(web) == [1, 2, 5]  # entered, left (offered via its old value), re-entered
    assert drain(db_everywhere) == [2, 3, 5]
    assert drain(plain) == [1, 2, 3, 4, 5]
    assert drain(other_ns) == []
    for sub in (web, db_everywhere, plain, other_ns):
        fanout.remove(sub)
    assert len(fanout) == 0 and list(fanout) == []


@async_test
async def test_field_indexed_watch_sees_a_pod_bound_to_its_node() -> None:
    async with running() as h:
        base = "/api/v1/namespaces/default/pods"
        pod = {"metadata": {"name": "p"},
               "spec": {"containers": [{"name": "c", "image": "pause"}]}}
        start = (await h.json("GET", base))["metadata"]["resourceVersion"]
        resp = await h.request(
            "GET", f"{base}?watch=1&resourceVersion={start}&fieldSelector=spec.nodeName%3Dn1")
        await h.json("POST", base, pod, expect=201)
        await h.json("POST", f"{base}/p/binding", {
            "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
            "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}}, expect=201)
        line = await asyncio.wait_for(resp.content.readline(), 30)
        event = json.loads(line)
        assert (event["type"], event["object"]["spec"]["nodeName"]) == ("ADDED", "n1")
        resp.close()



@async_test
async def test_consistent_read_uses_the_cache_after_writes_to_other_kinds() -> None:
    """The store's revision moves on writes to any kind; the tracker shows the configmaps
    cache is still complete, so a consistent list of configmaps needs no store read."""
    async with running() as h:
        caches = h.state.caches
        base = "/api/v1/namespaces/default/configmaps"
        acked = {(await h.json("POST", base, {"metadata": {"name": f"c{i}"}}, expect=201))
                 ["metadata"]["name"] for i in range(20)}
        for i in range(20):  # the last writes are to another kind
            await h.json("POST", "/api/v1/namespaces/default/secrets",
                         {"metadata": {"name": f"s{i}"}}, expect=201)
        store_rev = await h.state.storage.store.current_revision()
        cache = caches.peek(CONFIGMAPS)
        assert cache.revision < store_rev  # the configmaps cache saw no event since
        assert await caches.fresh(CONFIGMAPS, timeout=30) is cache
        assert caches.tracker.revision >= store_rev
        assert caches.tracker.last_under(cache.prefix) <= cache.revision
        consistent = await h.json("GET", base)
        assert {o["metadata"]["name"] for o in consistent["items"]} == acked
        assert int(consistent["metadata"]["resourceVersion"]) == cache.revision


@async_test
async def test_fresh_waits_for_the_cache_and_never_vouches_for_a_stale_one() -> None:
    async with running() as h:
        caches = h.state.caches
        base = "/api/v1/namespaces/default/configmaps"
        await h.json("POST", base, {"metadata": {"name": "a"}}, expect=201)
        cache = caches.peek(CONFIGMAPS)
        # many writes at once, then at once a consistent list: it waits for the cache
        created = await asyncio.gather(*(h.json("POST", base, {"metadata": {"name": f"b{i}"}},
                                                expect=201) for i in range(100)))
        listed = await h.json("GET", base)
        assert {o["metadata"]["name"] for o in listed["items"]} == \
            {"a"} | {o["metadata"]["name"] for o in created}
        assert int(listed["metadata"]["resourceVersion"]) >= max(
            int(o["metadata"]["resourceVersion"]) for o in created)
        for t in caches.tasks.values():  # freeze the configmaps cache
            if t.get_name() == f"watchcache-{cache.prefix}":
                t.cancel()
                await asyncio.gather(t, return_exceptions=True)
        await h.json("POST", base, {"metadata": {"name": "late"}}, expect=201)
        assert await caches.fresh(CONFIGMAPS, timeout=0.2) is None  # behind: the store answers
        await h.json("POST", "/api/v1/namespaces/default/secrets", {"metadata": {"name": "s"}},
                     expect=201)
        assert await caches.fresh(CONFIGMAPS, timeout=0.2) is None  # other kinds change nothing
        assert await caches.fresh(SECRETS, timeout=30) is caches.peek(SECRETS)


def test_tracker_notes_a_write_under_its_kind_and_namespace_prefixes() -> None:
    tracker = RevisionTracker(ObjectStorage(open_store("memory://")))
    tracker.start = 7
    assert tracker.last_under("/registry/configmaps/") == 7  # nothing since the start
    tracker._note("/registry/configmaps/ns1/a", 9)
    tracker._note("/registry/nodes/n1", 10)
    assert tracker.revision == 10
    assert tracker.last_under("/registry/configmaps/") == 9
    assert tracker.last_under("/registry/configmaps/ns1/") == 9
    assert tracker.last_under("/registry/configmaps/ns2/") == 7
    assert tracker.last_under("/registry/nodes/") == 10
    assert tracker.last_under("/registry/") == 10


@async_test
async def test_cache_lag_is_observed_for_every_write_the_cache_applies() -> None:
    async with running() as h:
        base = "/api/v1/namespaces/default/configmaps"
        before = h.state.metrics.cache_lag.n
        created = [await h.json("POST", base, {"metadata": {"name": f"l{i}"}}, expect=201)
                   for i in range(10)]
        await h.json("PUT", f"{base}/l0", {**created[0], "data": {"k": "v"}})
        await h.json("DELETE", f"{base}/l1")
        last = await h.state.storage.store.current_revision()
        assert await h.state.caches.peek(CONFIGMAPS).wait_for(last, timeout=30)
        assert h.state.metrics.cache_lag.n - before == 12  # 10 creates, an update, a delete
        resp = await h.request("GET", "/metrics")
        text = await resp.text()
        assert f"apiserver_watch_cache_lag_seconds_count {h.state.metrics.cache_lag.n}" in text
        assert 'apiserver_watch_cache_lag_seconds_bucket{le="+Inf"}' in text
