"""kboot-apiserver throughput, latency and watch-cache lag, beside its store's ceiling (same run).

Run from the repository root (not a test; takes two to four minutes)::

    PYTHONPATH=. .venv/bin/python benchmarks/apiserver/bench_apiserver.py \
        [--creates 3000] [--concurrency 50] [--burst 10000] [--watchers 1000] \
        [--full-watchers 10] [--events 20] [--store etcd|sqlite]

It starts a private TLS etcd (tests/fixtures/etcd.py) and a kboot-apiserver subprocess on it, or
on a SQLite file (tests/fixtures/apiserver.py), then measures:

- ``raw Put`` (etcd only): unconditional etcd Puts of 1 KiB on kboot's client over TLS,
  ``--concurrency`` writers — the issue's "raw etcd puts";
- ``store create``: Store.create (a compare-and-swap transaction) of 1 KiB straight on the
  backend, ``--concurrency`` writers — the ceiling (etcd over TLS; for ``--store sqlite`` a
  SQLite store opened by this process);
- ``apiserver create``: POST of a 1 KiB ConfigMap by ``--concurrency`` HTTPS clients on open
  connections (each opens its connection before the clock starts): creates/s, p50/p99, the
  ratios to both rows above, and the apiserver process's CPU time per create;
- ``burst``: ``--burst`` creates at full speed with ``--watchers`` watches open (see
  ``cache_lag.py``): the p99 from each create's 201 to its visibility in ``resourceVersion=0``
  lists and to its delivery to the watchers; every create must reach every watcher it matches,
  once, in order, and every rv=0 list must hold every object acknowledged at or before its
  resourceVersion; beside them the apiserver's own ``apiserver_watch_cache_lag_seconds``
  histogram over the burst (store write returned -> the cache applied it, no HTTP in between);
- ``list``: GET of the burst's objects, consistent (must hold all of them at once) and
  ``resourceVersion=0`` (must hold all of them once the cache reports the last create's
  revision), p50 of 5;
- ``watch delivery``: ``--watchers`` watches on one namespace; ``--events`` paced creates, each
  of which must reach every watcher: p50/p99 from the create's response.

Every correctness violation prints a ``FAILURE:`` line and the exit status is 1. Targets (issue
22): creates ≥ 0.3 times the store ceiling at p99 ≤ 50 ms; cache lag p99 ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aetcd import rpc

from benchmarks.apiserver.cache_lag import burst
from kboot.controlplane.store import open_store
from kboot.controlplane.store.etcd import EtcdStore
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
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def store_creates(url: str, total: int, concurrency: int, *, raw: bool = False) -> Row:
    """The backend's own ceiling: Store.create with ``concurrency`` writers, 1 KiB values (a
    ConfigMap's size below); ``raw``: unconditional etcd Puts on the same client (the issue's
    "raw etcd puts", no compare-and-swap transaction)."""
    store = open_store(url)
    await store.create(f"/bench-warmup/{uuid.uuid4()}", b"x")
    prefix = f"/bench/{uuid.uuid4()}/"
    latencies: list[float] = []
    counter = iter(range(total))
    value = b"x" * 1024

    async def put(key: str) -> None:
        if raw:
            assert isinstance(store, EtcdStore)
            await store._kv_call("Put", rpc.PutRequest(key=key.encode(), value=value),
                                 mutating=True)
        else:
            await store.create(key, value)

    async def worker() -> None:
        for i in counter:
            t = time.perf_counter()
            await put(f"{prefix}{i}")
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    await store.close()
    scheme = url.split(":", 1)[0]
    what = "raw Put" if raw else "Store.create (ceiling)"
    return Row(f"{scheme} {what}", total / elapsed, pct(latencies, .5), pct(latencies, .99))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
                body = {"metadata": {"name": f"cm-{i}"}, "data": {"k": "v" * 1000}}
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


LAG = "apiserver_watch_cache_lag_seconds_bucket"


async def lag_buckets(http: aiohttp.ClientSession) -> list[tuple[float, int]]:
    """The server's watch-cache lag histogram: (upper bound, cumulative count) per bucket."""
    async with http.get("/metrics") as resp:
        text = await resp.text()
    out = []
    for line in text.splitlines():
        if line.startswith(LAG):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            out.append((float(bound), int(line.rsplit(" ", 1)[1])))
    return out


def lag_row(before: list[tuple[float, int]], after: list[tuple[float, int]]) -> Row:
    """p50/p99 (bucket upper bounds) of the lags observed between two scrapes."""
    counts = [(bound, n - m) for (bound, n), (_, m) in zip(after, before, strict=True)]
    total = counts[-1][1] if counts else 0

    def quantile(q: float) -> float:
        return next((b * 1000 for b, n in counts if n >= q * total), float("nan"))
    return Row("  store write -> applied by the watch cache (server)", None, quantile(.5),
               quantile(.99), f"{total} writes; bucket upper bounds "
               "(apiserver_watch_cache_lag_seconds)")


async def lists(server: ApiServer, ns: str, expected: int, failures: list[str]) -> list[Row]:
    """Consistent and rv=0 lists of ``ns``, which holds exactly ``expected`` objects."""
    rows = []
    async with session(server, 4) as http:
        for label, query in (("consistent", ""), ("resourceVersion=0", "?resourceVersion=0")):
            times, counts = [], []
            for _ in range(5):
                t = time.perf_counter()
                async with http.get(f"/api/v1/namespaces/{ns}/configmaps{query}") as resp:
                    body = await resp.read()
                times.append(time.perf_counter() - t)
                counts.append(len(json.loads(body)["items"]))
            short = [c for c in counts if c != expected]
            if short:
                failures.append(f"{label} list of {ns}: {short} items, {expected} expected")
            rows.append(Row(f"list {expected} objects ({label})", None, pct(times, .5),
                            max(times) * 1000, f"counts {min(counts)}..{max(counts)}"))
    return rows


async def watch_delivery(server: ApiServer, ns: str, watchers: int, events: int,
                         failures: list[str]) -> Row:
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
        for i in range(events):
            name = f"w-{i}"
            async with http.post(f"/api/v1/namespaces/{ns}/configmaps",
                                 json={"metadata": {"name": name}}) as resp:
                assert resp.status == 201
            sent[name] = time.perf_counter()
            await asyncio.sleep(0.05)
        _, pending = await asyncio.wait(tasks, timeout=120)
        for task in pending:
            task.cancel()
    lost = sum(watchers - len(received.get(n, [])) for n in sent)
    if lost or pending:
        failures.append(f"watch delivery: {lost} of {watchers * events} deliveries lost, "
                        f"{len(pending)} watchers incomplete")
    delays = [max(0.0, t - sent[n]) for n, ts in received.items() for t in ts]
    return Row(f"watch delivery ({watchers} watchers, paced)", None, pct(delays, .5),
               pct(delays, .99), f"{len(delays)} deliveries, from the 201")


def render(rows: list[Row]) -> str:
    out = [f"{'measurement':52} {'ops/s':>8} {'p50 ms':>9} {'p99 ms':>9}  note"]
    for r in rows:
        rate = f"{r.rate:8.0f}" if r.rate is not None else f"{'':>8}"
        p50 = f"{r.p50_ms:9.1f}" if r.p50_ms is not None else f"{'':>9}"
        p99 = f"{r.p99_ms:9.1f}" if r.p99_ms is not None else f"{'':>9}"
        out.append(f"{r.name:52} {rate} {p50} {p99}  {r.note}")
    return "\n".join(out)


@contextlib.contextmanager
def cluster(store: str) -> Iterator[tuple[ApiServer, str]]:
    """The apiserver, and the URL of a store of the same kind for the ceiling row."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory(prefix="kboot-bench-") as tmp, \
                start_apiserver("sqlite", log_level="WARNING") as server:
            yield server, f"sqlite:///{tmp}/ceiling.db"
        return
    with start_etcd() as etcd, start_apiserver(etcd.url, log_level="WARNING") as server:
        yield server, etcd.url


async def run(args: argparse.Namespace, server: ApiServer, store_url: str,
              failures: list[str]) -> list[Row]:
    rows = []
    raw = None
    if store_url.startswith("etcd:"):
        raw = await store_creates(store_url, args.creates, args.concurrency, raw=True)
        rows.append(raw)
    ceiling = await store_creates(store_url, args.creates, args.concurrency)
    cpu_before = cpu_seconds(server.process.pid)
    made = await creates(server, "bench-create", args.creates, args.concurrency)
    cpu_per_create = (cpu_seconds(server.process.pid) - cpu_before) / args.creates * 1000
    assert ceiling.rate is not None and made.rate is not None
    versus = f"{made.rate / ceiling.rate:.2f}x Store.create"
    if raw is not None and raw.rate:
        versus += f", {made.rate / raw.rate:.2f}x raw Put"
    rows += [ceiling, Row(made.name, made.rate, made.p50_ms, made.p99_ms,
                          f"{versus} (target >= 0.30x, p99 <= 50 ms); "
                          f"apiserver CPU {cpu_per_create:.2f} ms/create")]
    async with session(server, 2) as http:
        for ns in ("bench-burst", "bench-empty"):
            await ensure_ns(http, ns)
        lag_before = await lag_buckets(http)
    result = await burst(lambda n: session(server, n), "bench-burst", "bench-empty",
                         total=args.burst, concurrency=args.concurrency,
                         watchers=args.watchers, full=args.full_watchers)
    async with session(server, 2) as http:
        lag_after = await lag_buckets(http)
    failures += result.failures
    rows.append(Row(f"burst create ({args.concurrency} clients, {args.watchers} watches)",
                    result.creates / result.elapsed, None, None))
    rows.append(lag_row(lag_before, lag_after))
    rows.append(Row("  201 -> visible in rv=0 lists", None, pct(result.list_lag, .5),
                    pct(result.list_lag, .99), f"{len(result.list_lag)} creates, "
                    f"{result.snapshots} full rv=0 lists checked (target p99 <= 100 ms)"))
    rows.append(Row("    (the probe's own round trip, included above)", None,
                    pct(result.probe_rtt, .5), pct(result.probe_rtt, .99),
                    f"{len(result.probe_rtt)} probes"))
    selective = args.watchers - args.full_watchers
    shares = (f"{args.full_watchers} get all, the rest 1/{selective} each" if selective > 0
              else "each gets all")
    rows.append(Row(f"  201 -> delivered to {args.watchers} watchers", None,
                    pct(result.watch_lag, .5), pct(result.watch_lag, .99),
                    f"{len(result.watch_lag)} deliveries: {shares} (target p99 <= 100 ms)"))
    rows += await lists(server, "bench-burst", args.burst, failures)
    rows.append(await watch_delivery(server, "bench-watch", args.watchers, args.events,
                                     failures))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--burst", type=int, default=10000)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--full-watchers", type=int, default=10)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--store", choices=("etcd", "sqlite"), default="etcd")
    args = parser.parse_args()
    failures: list[str] = []
    load_before = os.getloadavg()
    with cluster(args.store) as (server, store_url):
        rows = asyncio.run(run(args, server, store_url, failures))
    load_after = os.getloadavg()
    print(f"kboot-apiserver on {args.store}; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (1 min), "
          f"{os.cpu_count()} cores")
    print(render(rows))
    for failure in failures:
        print(f"FAILURE: {failure}")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
