"""kboot-apiserver throughput and latency on etcd, beside raw etcd put throughput (same run).

Run from the repository root (not a test; takes one to three minutes)::

    PYTHONPATH=. .venv/bin/python benchmarks/apiserver/bench_apiserver.py \
        [--creates 3000] [--concurrency 50] [--list-objects 10000] [--watchers 1000] \
        [--events 20] [--store etcd|sqlite]

It starts a private TLS etcd (tests/fixtures/etcd.py) and a kboot-apiserver subprocess on it
(tests/fixtures/apiserver.py), then measures:

- ``etcd put``: Store.create straight on etcd (TLS, ``--concurrency`` writers) — the ceiling;
- ``apiserver create``: POST of a ConfigMap by ``--concurrency`` HTTPS clients on open
  connections (each opens its connection before the clock starts): creates/s, p50/p99;
- ``list``: GET of ``--list-objects`` ConfigMaps in one namespace, consistent (store read) and
  ``resourceVersion=0`` (watch cache), p50 of 5;
- ``watch delivery``: ``--watchers`` open watches on one namespace; ``--events`` creates, and the
  time from each create's response to its arrival at every watcher: p50/p99.

Target (issue 5): ≥ 1,000 creates/s at p99 ≤ 100 ms on etcd.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp

from kboot.controlplane.store import open_store
from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.fixtures.etcd import start_etcd


@dataclass(frozen=True)
class Row:
    name: str
    rate: float | None
    p50_ms: float | None
    p99_ms: float | None
    note: str = ""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def etcd_puts(url: str, total: int, concurrency: int) -> Row:
    store = open_store(url)
    await store.create(f"/bench-warmup/{uuid.uuid4()}", b"x")
    prefix = f"/bench/{uuid.uuid4()}/"
    latencies: list[float] = []
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            t = time.perf_counter()
            await store.create(f"{prefix}{i}", b"x" * 400)
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    await store.close()
    return Row("etcd put (Store.create)", total / elapsed, pct(latencies, .5), pct(latencies, .99))


def session(server: ApiServer, limit: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(ssl=server.ssl_context(), limit=limit)
    return aiohttp.ClientSession(server.url, connector=connector,
                                 timeout=aiohttp.ClientTimeout(total=None))


async def ensure_ns(http: aiohttp.ClientSession, ns: str) -> None:
    async with http.post("/api/v1/namespaces", json={"metadata": {"name": ns}}) as resp:
        assert resp.status in (201, 409), await resp.text()


async def creates(server: ApiServer, ns: str, total: int, concurrency: int) -> Row:
    latencies: list[float] = []
    counter = iter(range(total))
    async with session(server, concurrency) as http:
        await ensure_ns(http, ns)
        ready = asyncio.Barrier(concurrency)

        async def worker() -> None:
            # open this client's connection first (TLS handshake) and start together: the
            # latencies are of requests on open connections, as kubectl and controllers use them
            async with http.get("/version") as resp:
                await resp.read()
            await ready.wait()
            for i in counter:
                body = {"metadata": {"name": f"cm-{i}"}, "data": {"k": "v" * 300}}
                t = time.perf_counter()
                async with http.post(f"/api/v1/namespaces/{ns}/configmaps", json=body) as resp:
                    await resp.read()
                    assert resp.status == 201, resp.status
                latencies.append(time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return Row(f"apiserver create ({concurrency} clients)", total / elapsed, pct(latencies, .5),
               pct(latencies, .99))


async def lists(server: ApiServer, ns: str, count: int) -> list[Row]:
    rows = []
    async with session(server, 4) as http:
        for label, query in (("consistent", ""), ("resourceVersion=0", "?resourceVersion=0")):
            times = []
            for _ in range(5):
                t = time.perf_counter()
                async with http.get(f"/api/v1/namespaces/{ns}/configmaps{query}") as resp:
                    body = await resp.read()
                times.append(time.perf_counter() - t)
            items = len(json.loads(body)["items"])
            rows.append(Row(f"list {items} objects ({label})", None, pct(times, .5),
                            max(times) * 1000, f"{count} expected"))
    return rows


async def watch_delivery(server: ApiServer, ns: str, watchers: int, events: int) -> Row:
    received: dict[str, list[float]] = {}
    sent: dict[str, float] = {}
    async with session(server, watchers + 8) as http:
        await ensure_ns(http, ns)
        rv_resp = await http.get(f"/api/v1/namespaces/{ns}/configmaps")
        rv = (await rv_resp.json())["metadata"]["resourceVersion"]
        ready = asyncio.Semaphore(0)

        async def watcher() -> None:
            url = f"/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion={rv}"
            async with http.get(url) as resp:
                ready.release()
                seen = 0
                async for line in resp.content:
                    name = json.loads(line)["object"]["metadata"]["name"]
                    received.setdefault(name, []).append(time.perf_counter())
                    seen += 1
                    if seen == events:
                        return

        tasks = [asyncio.create_task(watcher()) for _ in range(watchers)]
        for _ in range(watchers):
            await ready.acquire()
        await asyncio.sleep(1)
        for i in range(events):
            name = f"w-{i}"
            sent[name] = time.perf_counter()
            async with http.post(f"/api/v1/namespaces/{ns}/configmaps",
                                 json={"metadata": {"name": name}}) as resp:
                assert resp.status == 201
            await asyncio.sleep(0.05)
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
    delays = [t - sent[n] for n, ts in received.items() for t in ts]
    return Row(f"watch delivery ({watchers} watchers)", None, pct(delays, .5), pct(delays, .99),
               f"{len(delays)} deliveries, from create sent")


def render(rows: list[Row]) -> str:
    out = [f"{'measurement':44} {'ops/s':>10} {'p50 ms':>9} {'p99 ms':>9}  note"]
    for r in rows:
        rate = f"{r.rate:10.0f}" if r.rate is not None else f"{'':>10}"
        p50 = f"{r.p50_ms:9.1f}" if r.p50_ms is not None else f"{'':>9}"
        p99 = f"{r.p99_ms:9.1f}" if r.p99_ms is not None else f"{'':>9}"
        out.append(f"{r.name:44} {rate} {p50} {p99}  {r.note}")
    return "\n".join(out)


@contextlib.contextmanager
def cluster(store: str) -> Iterator[tuple[ApiServer, str]]:
    with start_etcd() as etcd:
        url = etcd.url if store == "etcd" else "sqlite"
        with start_apiserver(url, log_level="WARNING") as server:
            yield server, etcd.url


async def run(args: argparse.Namespace, server: ApiServer, etcd_url: str) -> list[Row]:
    rows = [await etcd_puts(etcd_url, args.creates, args.concurrency)]
    rows.append(await creates(server, "bench-create", args.creates, args.concurrency))
    extra = max(0, args.list_objects - args.creates)
    if extra:
        await creates(server, "bench-list", args.list_objects, args.concurrency)
    rows += await lists(server, "bench-list" if extra else "bench-create", args.list_objects)
    rows.append(await watch_delivery(server, "bench-watch", args.watchers, args.events))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--list-objects", type=int, default=10000)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--store", choices=("etcd", "sqlite"), default="etcd")
    args = parser.parse_args()
    with cluster(args.store) as (server, etcd_url):
        rows = asyncio.run(run(args, server, etcd_url))
    print(f"kboot-apiserver on {args.store} (etcd put row: the same etcd, straight)")
    print(render(rows))


if __name__ == "__main__":
    main()
