"""CPU time per create of an in-process kboot-apiserver (memory, SQLite or etcd), with a profile.

Client and server share this process and its event loop (plain HTTP, no TLS), so the figure is
the create path's CPU plus a constant client share; compare runs on one machine state (A/B by
pointing PYTHONPATH at two checkouts). On a loaded machine CPU time per create is the stable
figure, not the wall rate.

    python benchmarks/apiserver/profile_creates.py --store sqlite --creates 3000 [--profile]

``--store etcd`` starts a private TLS etcd (tests/fixtures/etcd.py); its CPU is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from kboot.controlplane.apiserver.app import build_app
from kboot.controlplane.apiserver.auth import Authenticator, UserInfo
from kboot.controlplane.apiserver.config import ServerConfig
from kboot.controlplane.apiserver.main import assemble, start_background, stop_background
from kboot.controlplane.apiserver.storage import ObjectStorage
from kboot.controlplane.apiserver.watchcache import WatchCaches
from kboot.controlplane.store import open_store
from tests.fixtures.etcd import start_etcd

TOKEN = "bench-token"
PATH = "/api/v1/namespaces/default/configmaps"


def configmap(i: int) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": f"cm-{i}", "labels": {"bench": "yes"}},
                       "data": {"value": "x" * 1024}}).encode()


async def run(args: argparse.Namespace, url: str) -> tuple[float, float, int]:
    cfg = ServerConfig(tls_cert_file="-", tls_private_key_file="-", storage=url)
    storage = ObjectStorage(open_store(url))
    users = {TOKEN: UserInfo("admin", ("system:masters", "system:authenticated"))}
    state = assemble(cfg, storage, WatchCaches(storage), Authenticator(static_tokens=users))
    await start_background(state)
    state.ready = True
    client: TestClient[Any, Any] = TestClient(TestServer(build_app(state)))
    await client.start_server()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    bodies = [configmap(i) for i in range(args.creates + args.warmup)]
    failures = 0

    async def worker(queue: list[bytes]) -> None:
        nonlocal failures
        while queue:
            resp = await client.post(PATH, data=queue.pop(), headers=headers)
            await resp.read()
            failures += resp.status != 201

    async def burst(items: list[bytes]) -> None:
        await asyncio.gather(*(worker(items) for _ in range(args.concurrency)))

    try:
        await burst(bodies[args.creates:])  # warm-up: caches listed, code paths hot
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        await burst(bodies[:args.creates])
        if profiler is not None:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if profiler is not None:
            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.sort_stats(args.sort).print_stats(args.top)
    finally:
        await client.close()
        await stop_background(state)
        await storage.store.close()
    return cpu, wall, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("memory", "sqlite", "etcd"), default="sqlite")
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="cProfile (CPU clock) the run")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        if args.store == "etcd":
            url = stack.enter_context(start_etcd()).url
        else:
            url = "memory://" if args.store == "memory" else f"sqlite://{tmp}/kboot.db"
        cpu, wall, failures = asyncio.run(run(args, url))
    print(f"{args.store}: {args.creates} creates at {args.concurrency} clients: "
          f"CPU {cpu / args.creates * 1000:.3f} ms/create (client and server), "
          f"{args.creates / wall:.0f} creates/s wall; load average "
          f"{os.getloadavg()[0]:.1f}; failures {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
