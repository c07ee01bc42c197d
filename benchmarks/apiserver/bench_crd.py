"""Custom-resource create throughput and latency next to a built-in kind's, in the same run.

Run from the repository root (not a test; about a minute)::

    PYTHONPATH=. .venv/bin/python benchmarks/apiserver/bench_crd.py \
        [--creates 2000] [--concurrency 20] [--store memory|sqlite|etcd]

It starts a kboot-apiserver subprocess (tests/fixtures/apiserver.py), applies the test CRD
(``crontabs.stable.kboot.dev``: a structural schema with defaults, a pattern, an enum and a CEL
rule, status and scale subresources) and waits for ``Established``, then creates ``--creates``
ConfigMaps and ``--creates`` CronTabs of similar size with ``--concurrency`` HTTPS clients on
open connections, alternating the order over two rounds. It prints creates/s, p50 and p99 of
each and the ratios custom resource / ConfigMap — the cost of pruning, defaulting and
validating by a CRD schema (and CEL) over a built-in kind's generic path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from benchmarks.apiserver.bench_apiserver import Row, ensure_ns, pct, session
from benchmarks.scheduler.bench_scheduler import server_on
from tests.fixtures.apiserver import ApiServer
from tests.integration.apiserver.crd_data import CRD_NAME, GROUP, crontab, crontab_crd

Body = Callable[[int], dict[str, Any]]


async def establish(http: aiohttp.ClientSession) -> None:
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    async with http.post(path, json=crontab_crd()) as resp:
        assert resp.status in (201, 409), await resp.text()
    for _ in range(100):
        async with http.get(f"/apis/{GROUP}/v1") as resp:
            if resp.status == 200:
                return
        await asyncio.sleep(0.1)
    raise SystemExit(f"{CRD_NAME} was not served within 10 s")


async def creates(server: ApiServer, label: str, path: str, body: Body, total: int,
                  concurrency: int) -> Row:
    latencies: list[float] = []
    counter = iter(range(total))
    async with session(server, concurrency) as http:
        ready = asyncio.Barrier(concurrency)

        async def worker() -> None:
            async with http.get("/version") as resp:
                await resp.read()
            await ready.wait()
            for i in counter:
                t = time.perf_counter()
                async with http.post(path, json=body(i)) as resp:
                    await resp.read()
                    assert resp.status == 201, (resp.status, await resp.text())
                latencies.append(time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return Row(label, total / elapsed, pct(latencies, .5), pct(latencies, .99))


def configmap(prefix: str) -> Body:
    return lambda i: {"metadata": {"name": f"{prefix}-{i}"},
                      "data": {"cronSpec": "* * * * */5", "image": "busybox:" + "v" * 200}}


def cron(prefix: str) -> Body:
    return lambda i: crontab(f"{prefix}-{i}", image="busybox:" + "v" * 200, mode="Daily")


async def run(server: ApiServer, total: int, concurrency: int) -> list[Row]:
    async with session(server, 2) as http:
        await establish(http)
        for ns in ("bench-a", "bench-b"):
            await ensure_ns(http, ns)
    rows = []
    for rnd, ns in enumerate(("bench-a", "bench-b")):
        cm = (f"ConfigMap create, round {rnd + 1}", f"/api/v1/namespaces/{ns}/configmaps",
              configmap("cm"))
        cr = (f"CronTab create, round {rnd + 1}", f"/apis/{GROUP}/v1/namespaces/{ns}/crontabs",
              cron("ct"))
        for label, path, body in ((cm, cr) if rnd == 0 else (cr, cm)):
            rows.append(await creates(server, label, path, body, total, concurrency))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--store", choices=("memory", "sqlite", "etcd"), default="memory")
    args = parser.parse_args()
    with server_on(args.store) as server:
        rows = asyncio.run(run(server, args.creates, args.concurrency))
    print(f"{'':40} {'creates/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for row in rows:
        print(f"{row.name:40} {row.rate or 0:10.0f} {row.p50_ms or 0:8.1f} {row.p99_ms or 0:8.1f}")
    cm_rate = sum(r.rate or 0 for r in rows if r.name.startswith("ConfigMap")) / 2
    cr_rate = sum(r.rate or 0 for r in rows if r.name.startswith("CronTab")) / 2
    cm_p99 = max(r.p99_ms or 0 for r in rows if r.name.startswith("ConfigMap"))
    cr_p99 = max(r.p99_ms or 0 for r in rows if r.name.startswith("CronTab"))
    print(json.dumps({"store": args.store, "creates": args.creates,
                      "concurrency": args.concurrency,
                      "throughput_ratio_cr_over_configmap": round(cr_rate / cm_rate, 3),
                      "p99_ratio_cr_over_configmap": round(cr_p99 / cm_p99, 3)}))


if __name__ == "__main__":
    main()
