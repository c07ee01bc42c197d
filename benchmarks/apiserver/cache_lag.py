"""Watch-cache lag under a write burst, with the correctness checks that make it meaningful.

Used by ``bench_apiserver.py``. During a burst of creates at full speed (``--concurrency``
clients) three things run beside the writers:

- a **probe** that lists an empty namespace with ``resourceVersion=0`` back to back: the list's
  ``resourceVersion`` is the configmaps cache's revision, so a create acknowledged with
  revision R is visible to rv=0 lists from the first probe answering ≥ R. Its lag is that
  probe's *arrival* minus the create's 201 (an upper bound: the probe's own round trip counts);
- **watchers**: ``full`` of them receive every event of the burst namespace (delivery lag per
  event; every create must arrive exactly once, in revision order), the others watch the same
  namespace with a label selector that matches a 1/N share, so the server evaluates every event
  against every watcher as a real fleet of informers makes it do;
- **snapshots**: every second a full rv=0 list of the burst namespace, which must contain every
  object acknowledged with a revision ≤ the list's resourceVersion.

Any violation is a :class:`Failure` line; the benchmark exits non-zero when there is one.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

Session = Callable[[int], aiohttp.ClientSession]


@dataclass
class BurstResult:
    creates: int = 0
    elapsed: float = 0.0
    list_lag: list[float] = field(default_factory=list)  # seconds, per create
    watch_lag: list[float] = field(default_factory=list)  # seconds, per delivery to a full one
    failures: list[str] = field(default_factory=list)
    snapshots: int = 0
    probe_rtt: list[float] = field(default_factory=list)  # the probe's own round trips
    shard_deliveries: int = 0


@dataclass
class _Acks:
    rv: dict[str, int] = field(default_factory=dict)  # name -> resourceVersion of its 201
    at: dict[str, float] = field(default_factory=dict)  # name -> when the 201 arrived


async def _writers(http: aiohttp.ClientSession, base: str, total: int, concurrency: int,
                   shards: int, acks: _Acks) -> None:
    names = iter(range(total))

    async def writer() -> None:
        for i in names:
            body = {"metadata": {"name": f"cm-{i}", "labels": {"shard": str(i % shards)}},
                    "data": {"k": "v" * 300}}
            async with http.post(base, json=body) as resp:
                reply = await resp.read()
                if resp.status != 201:
                    raise RuntimeError(f"create cm-{i}: HTTP {resp.status}: {reply[:200]!r}")
            acks.at[f"cm-{i}"] = time.perf_counter()
            acks.rv[f"cm-{i}"] = int(json.loads(reply)["metadata"]["resourceVersion"])

    await asyncio.gather(*(writer() for _ in range(concurrency)))


async def _probe(http: aiohttp.ClientSession, empty_ns: str, stop: asyncio.Event,
                 seen: list[tuple[float, int]], rtt: list[float]) -> None:
    url = f"/api/v1/namespaces/{empty_ns}/configmaps?resourceVersion=0"
    while not stop.is_set():
        sent = time.perf_counter()
        async with http.get(url) as resp:
            rv = int((await resp.json())["metadata"]["resourceVersion"])
        seen.append((time.perf_counter(), rv))
        rtt.append(seen[-1][0] - sent)


async def _snapshots(http: aiohttp.ClientSession, base: str, acks: _Acks, stop: asyncio.Event,
                     result: BurstResult) -> None:
    while not stop.is_set():
        acked = dict(acks.rv)  # acknowledged before the list was sent
        async with http.get(f"{base}?resourceVersion=0") as resp:
            doc = await resp.json()
        result.snapshots += 1
        rv = int(doc["metadata"]["resourceVersion"])
        names = {o["metadata"]["name"] for o in doc["items"]}
        missing = [n for n, r in acked.items() if r <= rv and n not in names]
        if missing:
            result.failures.append(f"rv=0 list at resourceVersion {rv} misses {len(missing)} "
                                   f"objects acknowledged at or before it (e.g. {missing[0]})")
        await asyncio.sleep(1)


async def _watch(http: aiohttp.ClientSession, url: str, opened: asyncio.Semaphore,
                 on_event: Callable[[str, int, float], bool]) -> None:
    async with http.get(url) as resp:
        opened.release()
        async for line in resp.content:
            event = json.loads(line)
            meta = event["object"]["metadata"]
            if on_event(meta["name"], int(meta["resourceVersion"]), time.perf_counter()):
                return


async def burst(session: Session, ns: str, empty_ns: str, *, total: int, concurrency: int,
                watchers: int, full: int) -> BurstResult:
    """``total`` creates in ``ns`` with ``watchers`` watches open (``full`` of them unfiltered)."""
    result, acks = BurstResult(creates=total), _Acks()
    shards = max(1, watchers - full)
    base = f"/api/v1/namespaces/{ns}/configmaps"
    async with session(concurrency + watchers + 8) as http:
        async with http.get(base) as resp:
            start = (await resp.json())["metadata"]["resourceVersion"]
        opened = asyncio.Semaphore(0)
        full_seen: list[list[tuple[str, int, float]]] = [[] for _ in range(full)]
        shard_seen: list[tuple[str, float]] = []

        def full_watcher(seen: list[tuple[str, int, float]]) -> Callable[[str, int, float], bool]:
            def on_event(name: str, rv: int, at: float) -> bool:
                seen.append((name, rv, at))
                return len(seen) >= total
            return on_event

        def shard_watcher(share: int) -> Callable[[str, int, float], bool]:
            def on_event(name: str, rv: int, at: float) -> bool:
                if int(name.removeprefix("cm-")) % shards == share:
                    shard_seen.append((name, at))
                else:
                    result.failures.append(f"watcher of shard {share} got {name}")
                return False  # cancelled once every create has arrived somewhere
            return on_event

        url = f"{base}?watch=1&resourceVersion={start}"
        tasks = [asyncio.create_task(_watch(http, url, opened, full_watcher(s)))
                 for s in full_seen]
        tasks += [asyncio.create_task(_watch(
            http, f"{url}&timeoutSeconds=600&labelSelector=shard%3D{i}", opened,
            shard_watcher(i))) for i in range(shards if watchers > full else 0)]
        for _ in tasks:
            await opened.acquire()
        stop = asyncio.Event()
        probes: list[tuple[float, int]] = []
        side = [asyncio.create_task(_probe(http, empty_ns, stop, probes, result.probe_rtt)),
                asyncio.create_task(_snapshots(http, base, acks, stop, result))]
        t0 = time.perf_counter()
        await _writers(http, base, total, concurrency, shards, acks)
        result.elapsed = time.perf_counter() - t0
        try:
            await asyncio.wait_for(asyncio.gather(*tasks[:full]), 120)
        except TimeoutError:
            result.failures.append("full watchers did not receive every create within 120 s")
        deadline = time.monotonic() + 60
        while len(shard_seen) < total and watchers > full and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        last = max(acks.rv.values())
        while not probes or probes[-1][1] < last:  # let the probe see the last create
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.gather(*side)
        for task in tasks[full:]:
            task.cancel()
        await asyncio.gather(*tasks[full:], return_exceptions=True)
    result.shard_deliveries = len(shard_seen)
    if watchers > full and sorted(n for n, _ in shard_seen) != sorted(acks.rv):
        result.failures.append(f"selector watchers: {len(shard_seen)} deliveries for {total} "
                               f"creates (each create matches exactly one watcher)")
    result.watch_lag += [max(0.0, at - acks.at[n]) for n, at in shard_seen if n in acks.at]
    _check_watchers(result, acks, full_seen)
    _list_lags(result, acks, probes)
    return result


def _check_watchers(result: BurstResult, acks: _Acks,
                    full_seen: list[list[tuple[str, int, float]]]) -> None:
    expected = sorted(acks.rv.values())
    for i, seen in enumerate(full_seen):
        revs = [rv for _, rv, _ in seen]
        if revs != expected:
            lost = len(set(expected) - set(revs))
            order = "kept" if revs == sorted(revs) else "broken"
            result.failures.append(f"full watcher {i}: {len(seen)} events for {len(expected)} "
                                   f"creates, {lost} lost, order {order}")
        for name, _, at in seen:
            if name in acks.at:
                result.watch_lag.append(max(0.0, at - acks.at[name]))


def _list_lags(result: BurstResult, acks: _Acks, probes: list[tuple[float, int]]) -> None:
    """Per create: the first probe arriving after its 201 whose revision covers it."""
    probes.sort()
    times = [t for t, _ in probes]
    for name, rv in acks.rv.items():
        acked = acks.at[name]
        i = bisect.bisect_left(times, acked)
        while i < len(probes) and probes[i][1] < rv:
            i += 1
        if i == len(probes):
            result.failures.append(f"{name} (rv {rv}) never became visible to rv=0 lists")
            return
        result.list_lag.append(probes[i][0] - acked)
