"""Store write throughput: raw etcd puts (aetcd) beside kboot's Store.create on etcd and SQLite.

Run from the repository root (not a test; takes about a minute)::

    PYTHONPATH=. .venv/bin/python benchmarks/store/bench_store.py [--ops 2000] [--concurrency 50]

One run starts a private single-member etcd (tests/fixtures/etcd.py) with its TLS listener and an
extra plaintext listener, because aetcd's ``Client`` speaks only plaintext. Rows, each measured
sequentially (one writer) and with ``--concurrency`` writers sharing one client:

- ``aetcd put (plain)``  — the Python-side ceiling: unconditional Put, no transaction;
- ``kboot etcd (plain)`` — Store.create = a CAS Txn (mod_revision == 0), same transport;
- ``kboot etcd (TLS)``   — the same over mutual TLS, as deployed;
- ``kboot sqlite``       — the embedded backend (WAL, synchronous=NORMAL) in a temp dir.

Ratios are against the aetcd row of the same mode. Values are 500 bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aetcd

from kboot.controlplane.store import Store, open_store
from tests.fixtures.etcd import start_etcd

VALUE = b"x" * 500
Put = Callable[[str], Awaitable[object]]


@dataclass(frozen=True)
class Result:
    name: str
    mode: str
    ops: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.ops / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def measure(name: str, put: Put, *, ops: int, concurrency: int) -> Result:
    prefix = f"/bench/{uuid.uuid4().hex[:8]}/"
    latencies: list[float] = []
    counter = iter(range(ops))

    async def worker() -> None:
        for i in counter:
            began = time.perf_counter()
            await put(f"{prefix}{i:08d}")
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    mode = "sequential" if concurrency == 1 else f"{concurrency} concurrent"
    return Result(name, mode, ops, time.perf_counter() - began, latencies)


async def run_store(name: str, store: Store, *, ops: int, concurrency: int) -> list[Result]:
    async def put(key: str) -> int:
        return await store.create(key, VALUE)

    try:
        await put(f"/bench/warmup/{uuid.uuid4().hex}")
        return [
            await measure(name, put, ops=ops, concurrency=1),
            await measure(name, put, ops=ops, concurrency=concurrency),
        ]
    finally:
        await store.close()


async def run_aetcd(endpoint: str, *, ops: int, concurrency: int) -> list[Result]:
    host, port = endpoint.rsplit(":", 1)
    options = {"grpc.max_receive_message_length": 64 * 1024 * 1024}
    async with aetcd.Client(host=host, port=int(port), options=options) as client:

        async def put(key: str) -> object:
            return await client.put(key.encode(), VALUE)

        await put("/bench/warmup")
        return [
            await measure("aetcd put (plain)", put, ops=ops, concurrency=1),
            await measure("aetcd put (plain)", put, ops=ops, concurrency=concurrency),
        ]


def table(results: list[Result]) -> str:
    base = {r.mode: r.rate for r in results if r.name.startswith("aetcd")}
    lines = [
        f"{'backend':<20} {'mode':<15} {'ops':>6} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'vs aetcd':>9}",
    ]
    for r in results:
        ratio = r.rate / base[r.mode] if r.mode in base else float("nan")
        lines.append(
            f"{r.name:<20} {r.mode:<15} {r.ops:>6} {r.rate:>9.0f} {r.pct(0.5):>8.2f} "
            f"{r.pct(0.99):>8.2f} {ratio:>9.2f}"
        )
    return "\n".join(lines)


async def main(ops: int, concurrency: int) -> list[Result]:
    results: list[Result] = []
    with start_etcd(plaintext=True) as cluster, tempfile.TemporaryDirectory() as tmp:
        plain = cluster.plain_endpoints[0]
        results += await run_aetcd(plain, ops=ops, concurrency=concurrency)
        for name, url in [
            ("kboot etcd (plain)", f"etcd://{plain}"),
            ("kboot etcd (TLS)", cluster.url),
            ("kboot sqlite", f"sqlite://{tmp}/bench.db"),
        ]:
            results += await run_store(name, open_store(url), ops=ops, concurrency=concurrency)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000, help="writes per measurement")
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    found = asyncio.run(main(args.ops, args.concurrency))
    print(table(found))
