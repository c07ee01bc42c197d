"""Scheduler throughput on simulated nodes (not a test; a few minutes).

Run from the repository root::

    PYTHONPATH=. .venv/bin/python benchmarks/scheduler/bench_scheduler.py \
        [--nodes 1000] [--pods 10000] [--replicas 1000] [--store etcd|sqlite|memory]

Three measurements, printed against the 500 pods/s target of issue 6:

1. ``algorithm``: the filter/score loop alone over an in-memory snapshot of ``--nodes`` nodes,
   placing ``--pods`` pods (assume only, no I/O) — the scheduler's CPU ceiling;
2. ``scheduler e2e``: a private apiserver on ``--store``, ``--nodes`` hollow nodes registered,
   ``--pods`` pending pods created *before* ``kboot-scheduler`` starts; then the time from the
   scheduler's first to last binding as seen by a watch (pods/s), and from its start;
3. ``deployment``: controller-manager + scheduler + hollow nodes running, a ``--replicas``
   Deployment applied; the time until all its pods are Running.

Everything runs on this machine: apiserver, store, scheduler, controllers and the hollow
nodes share its cores, so the end-to-end numbers are a lower bound for a real cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.rest import Client
from kboot.controlplane.scheduler.scheduler import Algorithm
from kboot.controlplane.scheduler.snapshot import Snapshot
from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.fixtures.etcd import start_etcd

TARGET = 500.0
ROOT = Path(__file__).resolve().parents[2]


def pod(i: int, ns: str = "bench") -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"p-{i}", "namespace": ns, "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "pause",
                                     "resources": {"requests": {"cpu": "10m",
                                                                "memory": "16Mi"}}}]}}


def node(i: int) -> dict[str, object]:
    return {"metadata": {"name": f"hollow-{i}", "labels": {"kubernetes.io/hostname":
                                                           f"hollow-{i}"}},
            "spec": {},
            "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def bench_algorithm(nodes: int, pods: int) -> float:
    snap = Snapshot()
    for i in range(nodes):
        snap.set_node(node(i))
    algo = Algorithm(snap)
    start = time.perf_counter()
    for i in range(pods):
        p = pod(i)
        decision = algo.schedule(p)
        assert decision.node is not None
        snap.place(p, decision.node)
    return pods / (time.perf_counter() - start)


def component(module: str, kubeconfig: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", f"import sys; from kboot.controlplane.{module}.main import main;"
         " sys.exit(main(sys.argv[1:]))", f"--kubeconfig={kubeconfig}", *args],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=str(ROOT))


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def wait_count(client: ApiClient, ref: str, want: int, *, ns: str | None = None,
                     field_selector: str | None = None, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = await client.list(ref, namespace=ns, field_selector=field_selector, limit=1)
        left = page["metadata"].get("remainingItemCount")
        have = len(page["items"]) + int(left or 0) if left is not None else None
        if have is None:
            have = len((await client.list(ref, namespace=ns,
                                          field_selector=field_selector))["items"])
        if have >= want:
            return
        await asyncio.sleep(1)
    raise TimeoutError(f"{ref}: fewer than {want} after {timeout}s")


async def create_pods(client: ApiClient, count: int, concurrency: int = 50) -> float:
    await client.create("namespaces", {"metadata": {"name": "bench"}})
    queue = iter(range(count))
    start = time.perf_counter()

    async def worker() -> None:
        for i in queue:
            await client.create("pods", pod(i))
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - start)


async def binding_times(client: ApiClient, count: int, timeout: float) -> list[float]:
    """Monotonic times at which pods were seen bound, until ``count`` of them."""
    seen: dict[str, float] = {}
    page = await client.list("pods", namespace="bench")
    rv = page["metadata"]["resourceVersion"]
    async with asyncio.timeout(timeout):
        while len(seen) < count:
            async for ev in client.watch("pods", namespace="bench", resource_version=rv):
                rv = ev.object["metadata"].get("resourceVersion", rv)
                name = ev.object["metadata"].get("name", "")
                if (ev.object.get("spec") or {}).get("nodeName") and name not in seen:
                    seen[name] = time.monotonic()
                    if len(seen) >= count:
                        break
    return sorted(seen.values())


async def bench_e2e(server: ApiServer, work: Path, nodes: int, pods: int) -> dict[str, float]:
    client = Client.from_kubeconfig(server.kubeconfig)
    hollow = component("hollow", server.kubeconfig, work / "hollow.log", f"--count={nodes}",
                       "--heartbeat-interval=30s")
    try:
        await wait_count(client, "nodes", nodes)
        stop(hollow)  # nodes stay Ready (no node controller runs); pods stay bound-only
        create_rate = await create_pods(client, pods)
        watcher = asyncio.create_task(binding_times(client, pods, timeout=900))
        await asyncio.sleep(0.5)
        started = time.monotonic()
        sched = component("scheduler", server.kubeconfig, work / "scheduler.log",
                          "--leader-elect=false")
        try:
            times = await watcher
        finally:
            stop(sched)
        return {"create": create_rate,
                "bind window": (len(times) - 1) / max(1e-9, times[-1] - times[0]),
                "from start": len(times) / (times[-1] - started)}
    finally:
        stop(hollow)
        await client.close()


DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: big, namespace: default}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: big}}}}
  template:
    metadata: {{labels: {{app: big}}}}
    spec: {{containers: [{{name: c, image: pause}}]}}
"""


async def bench_deployment(server: ApiServer, work: Path, nodes: int, replicas: int) -> float:
    client = Client.from_kubeconfig(server.kubeconfig)
    procs = [component("hollow", server.kubeconfig, work / "hollow2.log", f"--count={nodes}",
                       "--heartbeat-interval=30s"),
             component("controllers", server.kubeconfig, work / "cm.log",
                       "--leader-elect=false", "--controllers=deployment,replicaset,nodeipam"),
             component("scheduler", server.kubeconfig, work / "scheduler2.log",
                       "--leader-elect=false")]
    try:
        await wait_count(client, "nodes", nodes)
        await asyncio.sleep(3)  # informers of the scheduler and controllers synced
        r = server.kubectl("apply", "-f", "-", input=DEPLOY.format(replicas=replicas))
        assert r.returncode == 0, r.stderr
        start = time.monotonic()
        await wait_count(client, "pods", replicas, ns="default",
                         field_selector="status.phase=Running", timeout=900)
        return time.monotonic() - start
    finally:
        for p in procs:
            stop(p)
        await client.close()


@contextlib.contextmanager
def server_on(store: str) -> Iterator[ApiServer]:
    if store == "etcd":
        with start_etcd() as etcd, start_apiserver(etcd.url, log_level="WARNING") as srv:
            yield srv
    else:
        with start_apiserver("sqlite" if store == "sqlite" else "memory://",
                             log_level="WARNING") as srv:
            yield srv


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--pods", type=int, default=10000)
    p.add_argument("--replicas", type=int, default=1000)
    p.add_argument("--store", choices=("etcd", "sqlite", "memory"), default="etcd")
    args = p.parse_args()
    rows = [("algorithm (CPU only)", bench_algorithm(args.nodes, args.pods), "pods/s")]
    print(f"{rows[0][0]:<34}{rows[0][1]:>10.0f} {rows[0][2]}", flush=True)
    with server_on(args.store) as srv:
        e2e = asyncio.run(bench_e2e(srv, srv.workdir, args.nodes, args.pods))
        rows += [("pod creates (50 clients)", e2e["create"], "pods/s"),
                 ("scheduler e2e, binding window", e2e["bind window"], "pods/s"),
                 ("scheduler e2e, from process start", e2e["from start"], "pods/s")]
    with server_on(args.store) as srv:
        secs = asyncio.run(bench_deployment(srv, srv.workdir, args.nodes, args.replicas))
        rows.append((f"{args.replicas}-replica Deployment all Running", secs, "s"))
    print(f"\nnodes={args.nodes} pods={args.pods} store={args.store} "
          f"target={TARGET:.0f} pods/s\n")
    for name, value, unit in rows:
        verdict = ""
        if (unit == "pods/s" and "scheduler" in name) or name.startswith("algorithm"):
            verdict = "meets target" if value >= TARGET else "below target"
        print(f"{name:<40}{value:>10.1f} {unit:<7}{verdict}")


if __name__ == "__main__":
    main()
