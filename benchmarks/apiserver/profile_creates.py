"""CPU time per create of an in-process kboot-apiserver (memory, SQLite or etcd), with a profile.

Client and server share this process and its event loop (plain HTTP, no TLS), so the figure is
the create path's CPU plus a constant client share; compare runs on one machine state (A/B by
pointing PYTHONPATH at two checkouts). On a loaded machine CPU time per create is the stable
figure, not the wall rate.

    python benchmarks/apiserver/profile_creates.py --store sqlite --creates 3000 [--profile]
    python benchmarks/apiserver/profile_creates.py --kind pods --bindings [--spread] [--profile]

``--kind pods`` creates the scheduler benchmark's pods (``bench_scheduler.pod``); ``--bindings``
then binds each one (``POST pods/NAME/binding``, the scheduler's body) and reports CPU per
binding separately, with its own profile.

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
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from benchmarks.scheduler.bench_scheduler import pod
from kboot.controlplane.apiserver.app import build_app
from kboot.controlplane.apiserver.auth import Authenticator, UserInfo
from kboot.controlplane.apiserver.config import ServerConfig
from kboot.controlplane.apiserver.main import assemble, start_background, stop_background
from kboot.controlplane.apiserver.storage import ObjectStorage
from kboot.controlplane.apiserver.watchcache import WatchCaches
from kboot.controlplane.store import open_store
from tests.fixtures.etcd import start_etcd

TOKEN = "bench-token"
NAMESPACE = "default"
PATH = f"/api/v1/namespaces/{NAMESPACE}"
Post = Callable[[str, bytes], Awaitable[bool]]


def configmap(i: int) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": f"cm-{i}", "labels": {"bench": "yes"}},
                       "data": {"value": "x" * 1024}}).encode()


def binding(i: int) -> tuple[str, bytes]:
    """The scheduler's binding of pod ``p-i`` (kboot/controlplane/scheduler/scheduler.py)."""
    return f"{PATH}/pods/p-{i}/binding", json.dumps({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": f"p-{i}", "namespace": NAMESPACE},
        "target": {"apiVersion": "v1", "kind": "Node", "name": f"node-{i % 5000}"}}).encode()


def requests(args: argparse.Namespace) -> list[tuple[str, bytes]]:
    """The creates, warm-up ones last (the phases pop from the end)."""
    count = args.creates + args.warmup
    if args.kind == "configmaps":
        return [(f"{PATH}/configmaps", configmap(i)) for i in range(count)]
    return [(f"{PATH}/pods", json.dumps(pod(i, NAMESPACE, spread=args.spread)).encode())
            for i in range(count)]


async def phase(args: argparse.Namespace, post: Post, items: list[tuple[str, bytes]]
                ) -> tuple[float, float, int]:
    """CPU and wall seconds of POSTing ``items`` (after a warm-up of the last ``args.warmup``),
    and the failures; prints the CPU-clock profile with ``--profile``."""
    failures = 0

    async def worker(queue: list[tuple[str, bytes]]) -> None:
        nonlocal failures
        while queue:
            failures += not await post(*queue.pop())

    async def burst(batch: list[tuple[str, bytes]]) -> None:
        await asyncio.gather(*(worker(batch) for _ in range(args.concurrency)))

    await burst(items[args.creates:])  # warm-up: caches listed, code paths hot
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    await burst(items[:args.creates])
    if profiler is not None:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats(args.sort).print_stats(args.top)
    return cpu, wall, failures


async def run(args: argparse.Namespace, url: str) -> list[tuple[str, float, float, int]]:
    """``(operation, CPU s, wall s, failures)`` of the creates and (``--bindings``) bindings."""
    cfg = ServerConfig(tls_cert_file="-", tls_private_key_file="-", storage=url)
    storage = ObjectStorage(open_store(url))
    users = {TOKEN: UserInfo("admin", ("system:masters", "system:authenticated"))}
    state = assemble(cfg, storage, WatchCaches(storage), Authenticator(static_tokens=users))
    await start_background(state)
    state.ready = True
    client: TestClient[Any, Any] = TestClient(TestServer(build_app(state)))
    await client.start_server()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    async def post(path: str, body: bytes) -> bool:
        resp = await client.post(path, data=body, headers=headers)
        await resp.read()
        return resp.status == 201

    try:
        if args.spread:  # bench_scheduler's pods name this PriorityClass
            await post("/apis/scheduling.k8s.io/v1/priorityclasses", json.dumps({
                "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": "bench-low"}, "value": 10}).encode())
        out = [("create", *await phase(args, post, requests(args)))]
        if args.bindings:
            count = args.creates + args.warmup
            out.append(("binding", *await phase(args, post, [binding(i) for i in range(count)])))
    finally:
        await client.close()
        await stop_background(state)
        await storage.store.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("memory", "sqlite", "etcd"), default="sqlite")
    parser.add_argument("--kind", choices=("configmaps", "pods"), default="configmaps")
    parser.add_argument("--spread", action="store_true",
                        help="pods with zone spreading and a priority (bench_scheduler --spread)")
    parser.add_argument("--bindings", action="store_true", help="then bind every pod")
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="cProfile (CPU clock) each phase")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    if (args.bindings or args.spread) and args.kind != "pods":
        parser.error("--bindings and --spread need --kind pods")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        if args.store == "etcd":
            url = stack.enter_context(start_etcd()).url
        else:
            url = "memory://" if args.store == "memory" else f"sqlite://{tmp}/kboot.db"
        results = asyncio.run(run(args, url))
    for op, cpu, wall, failures in results:
        print(f"{args.store} {args.kind}: {args.creates} {op}s at {args.concurrency} clients: "
              f"CPU {cpu / args.creates * 1000:.3f} ms/{op} (client and server), "
              f"{args.creates / wall:.0f} {op}s/s wall; load average "
              f"{os.getloadavg()[0]:.1f}; failures {failures}")
    return 1 if any(failures for *_, failures in results) else 0


if __name__ == "__main__":
    sys.exit(main())
