"""Differential test: random operation sequences give identical results on memory and SQLite.

The memory backend is small enough to check by eye; SQLite must agree with it on every answer,
every error and every watch event, including reads at old revisions and after compaction.
"""

from __future__ import annotations

import asyncio
import tempfile
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kboot.controlplane.store import Store, StoreError, open_store
from tests.unit.store.contract import take

KEYS = st.sampled_from(["/r/a", "/r/b", "/r/c/x", "/r/c/y", "/s/z"])
VALUES = st.binary(min_size=0, max_size=8)
BACK = st.integers(min_value=0, max_value=8)  # how many revisions before the current one
OPS = st.one_of(
    st.tuples(st.just("create"), KEYS, VALUES),
    st.tuples(st.just("update"), KEYS, VALUES, st.booleans()),
    st.tuples(st.just("delete"), KEYS, st.sampled_from(["any", "fresh", "stale"])),
    st.tuples(st.just("get"), KEYS),
    st.tuples(st.just("list"), st.sampled_from(["/r/", "/r/c/", "/", ""]), BACK, st.integers(0, 3)),
    st.tuples(st.just("count"), st.sampled_from(["/r/", "/s/", ""])),
    st.tuples(st.just("compact"), BACK),
)


async def expected_revision(store: Store, key: str, fresh: bool) -> int:
    kv = await store.get(key)
    current = kv.mod_revision if kv else 1
    return current if fresh else max(1, current - 1)


async def apply(store: Store, op: tuple[Any, ...]) -> object:
    name, *args = op
    now = await store.current_revision()
    try:
        if name == "create":
            return await store.create(args[0], args[1])
        if name == "update":
            rev = await expected_revision(store, args[0], args[2])
            return await store.update(args[0], args[1], expected_revision=rev)
        if name == "delete":
            fresh = args[1] == "fresh"
            rev = 0 if args[1] == "any" else await expected_revision(store, args[0], fresh)
            return await store.delete(args[0], expected_revision=rev)
        if name == "get":
            return await store.get(args[0])
        if name == "list":
            rev = max(1, now - args[1]) if args[1] and now else 0
            return await store.list(args[0], revision=rev, limit=args[2])
        if name == "count":
            return await store.count(args[0])
        await store.compact(max(1, now - args[0]))
        return "compacted"
    except StoreError as err:
        return type(err).__name__


async def run(url: str, ops: list[tuple[Any, ...]]) -> list[object]:
    store = open_store(url)
    try:
        results = [await apply(store, op) for op in ops]
        final = await store.current_revision()
        results.append(final)
        try:
            events = await take(store.watch("/", from_revision=0), final) if final else []
            results.append([(e.type, e.kv, e.prev_kv) for e in events])
        except StoreError as err:
            results.append(type(err).__name__)
        return results
    finally:
        await store.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(OPS, min_size=1, max_size=30))
def test_sqlite_agrees_with_memory(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        expected = asyncio.run(run("memory://", ops))
        actual = asyncio.run(run(f"sqlite://{tmp}/kboot.db", ops))
    assert actual == expected
