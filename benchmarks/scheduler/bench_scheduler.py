"""Scheduler throughput on simulated nodes (not a test; a few minutes).

Run from the repository root::

    PYTHONPATH=. .venv/bin/python benchmarks/scheduler/bench_scheduler.py \
        [--nodes 5000] [--pods 30000] [--replicas 1000] [--store etcd|sqlite|memory] \
        [--spread [--preemptors 100]]

Three measurements, printed against issue 22's targets (1,000 pods/s end to end at 5,000
nodes; 300 pods/s with ``--spread``) and as a ratio to upstream's scheduler_perf CI threshold
for SchedulingBasic at 5,000 nodes (270 pods/s):

1. ``algorithm``: the filter/score loop alone over an in-memory snapshot of ``--nodes`` nodes,
   placing ``--pods`` pods (assume only, no I/O) — the scheduler's CPU ceiling;
2. ``scheduler e2e``: a private apiserver on ``--store``, ``--nodes`` hollow nodes registered,
   ``--pods`` pending pods created *before* ``kboot-scheduler`` starts; then the time from the
   scheduler's first to last binding as seen by a watch (pods/s), and from its start;
3. ``deployment``: controller-manager + scheduler + hollow nodes running, a ``--replicas``
   Deployment applied; the time until all its pods are Running (``--replicas 0``: skipped).

``--spread``: the nodes are registered in five zones (``topology.kubernetes.io/zone``) and every
pod carries a ``DoNotSchedule`` zone spread constraint (maxSkew 1) and the low
PriorityClass; once all are bound, ``--preemptors`` high-priority pods that fit nowhere
without evicting are created and the time until all are bound is the preemption figure.

After the e2e run every pod must be bound to an existing node, no node over its cpu or pod
capacity, and with ``--spread`` the zones' counts within the skew: otherwise it prints
``FAILURE:`` lines and exits 1.

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
from typing import Any

from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.rest import Client
from kboot.controlplane.scheduler.scheduler import Algorithm
from kboot.controlplane.scheduler.snapshot import Snapshot, parse_quantity
from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.fixtures.etcd import start_etcd

TARGET = 1000.0  # issue 22: pods/s end to end at 5,000 nodes
TARGET_SPREAD = 300.0  # with topology spreading and preemption
UPSTREAM = 270.0  # scheduler_perf SchedulingBasic threshold at 5,000 nodes
ZONES = 5
ROOT = Path(__file__).resolve().parents[2]


SPREAD = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
          "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "bench"}}}


def pod(i: int, ns: str = "bench", *, spread: bool = False, cpu: str = "10m",
        prefix: str = "p") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "pause",
                                            "resources": {"requests": {"cpu": cpu,
                                                                       "memory": "16Mi"}}}]}
    if spread:
        spec.update(topologySpreadConstraints=[SPREAD], priorityClassName="bench-low",
                    terminationGracePeriodSeconds=0)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{prefix}-{i}", "namespace": ns, "labels": {"app": "bench"}},
            "spec": spec}


def zone(i: int, nodes: int) -> str:
    return f"zone-{i * ZONES // nodes}"


def node(i: int, nodes: int = 0) -> dict[str, object]:
    labels = {"kubernetes.io/hostname": f"hollow-{i}"}
    if nodes:
        labels["topology.kubernetes.io/zone"] = zone(i, nodes)
    return {"metadata": {"name": f"hollow-{i}", "labels": labels},
            "spec": {},
            "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def bench_algorithm(nodes: int, pods: int, *, spread: bool = False) -> float:
    snap = Snapshot()
    for i in range(nodes):
        snap.set_node(node(i, nodes if spread else 0))
    algo = Algorithm(snap)
    start = time.perf_counter()
    for i in range(pods):
        p = pod(i, spread=spread)
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


async def create_pods(client: ApiClient, count: int, concurrency: int = 50, *,
                      spread: bool = False) -> float:
    await client.create("namespaces", {"metadata": {"name": "bench"}})
    if spread:
        for name, value in (("bench-low", 10), ("bench-high", 1000)):
            await client.create("priorityclasses", {
                "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": name}, "value": value})
    queue = iter(range(count))
    start = time.perf_counter()

    async def worker() -> None:
        for i in queue:
            await client.create("pods", pod(i, spread=spread))
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - start)


async def binding_times(client: ApiClient, count: int, timeout: float,
                        prefix: str = "p-") -> list[float]:
    """Monotonic times at which pods named ``prefix*`` were seen bound, until ``count``."""
    seen: dict[str, float] = {}
    page = await client.list("pods", namespace="bench", limit=1)
    rv = page["metadata"]["resourceVersion"]
    async with asyncio.timeout(timeout):
        while len(seen) < count:
            async for ev in client.watch("pods", namespace="bench", resource_version=rv):
                rv = ev.object["metadata"].get("resourceVersion", rv)
                name = ev.object["metadata"].get("name", "")
                if (ev.type != "DELETED" and name.startswith(prefix)
                        and (ev.object.get("spec") or {}).get("nodeName") and name not in seen):
                    seen[name] = time.monotonic()
                    if len(seen) >= count:
                        break
    return sorted(seen.values())


def hollow_nodes(kubeconfig: Path, work: Path, nodes: int,
                 spread: bool) -> list[subprocess.Popen[bytes]]:
    """One hollow-node process, or one per zone (the zone is a label of all its nodes)."""
    if not spread:
        return [component("hollow", kubeconfig, work / "hollow.log", f"--count={nodes}",
                          "--heartbeat-interval=30s")]
    out = []
    for z in range(ZONES):
        first = next(i for i in range(nodes) if zone(i, nodes) == f"zone-{z}")
        count = sum(1 for i in range(nodes) if zone(i, nodes) == f"zone-{z}")
        out.append(component("hollow", kubeconfig, work / f"hollow-{z}.log", f"--count={count}",
                             f"--start-index={first}", "--heartbeat-interval=30s",
                             f"--node-labels=topology.kubernetes.io/zone=zone-{z}"))
    return out


async def verify(client: ApiClient, pods: int, spread: bool) -> list[str]:
    """Every pod bound to an existing node, no node over capacity, zones within the skew."""
    failures: list[str] = []
    nodes = {n["metadata"]["name"]: n for n in (await client.list("nodes"))["items"]}
    items = [p for p in (await client.list("pods", namespace="bench"))["items"]
             if not p["metadata"].get("deletionTimestamp")]
    per_node: dict[str, list[dict[str, Any]]] = {}
    unbound = 0
    for p in items:
        name = (p.get("spec") or {}).get("nodeName")
        if not name:
            unbound += 1
        elif name not in nodes:
            failures.append(f"pod {p['metadata']['name']} bound to unknown node {name}")
        else:
            per_node.setdefault(name, []).append(p)
    if unbound:
        failures.append(f"{unbound} pods not bound")
    if sum(1 for p in items if p["metadata"]["name"].startswith("p-")) < pods and not spread:
        failures.append(f"only {len(items)} of {pods} pods exist")
    for name, placed in per_node.items():
        alloc = nodes[name]["status"]["allocatable"]
        cpu = sum(parse_quantity(c["resources"]["requests"]["cpu"])
                  for p in placed for c in p["spec"]["containers"])
        if len(placed) > int(alloc["pods"]) or cpu > parse_quantity(alloc["cpu"]) + 1e-9:
            failures.append(f"node {name} over capacity: {len(placed)} pods, {cpu:g} cpu")
    if spread:
        zones: dict[str, int] = {}
        for name, placed in per_node.items():
            z = nodes[name]["metadata"]["labels"]["topology.kubernetes.io/zone"]
            zones[z] = zones.get(z, 0) + sum(1 for p in placed
                                             if p["metadata"]["name"].startswith("p-"))
        if len(zones) == ZONES and max(zones.values()) - min(zones.values()) > 1:
            failures.append(f"zone skew over 1: {sorted(zones.items())}")
    return failures


async def bench_e2e(server: ApiServer, work: Path, nodes: int, pods: int, *,
                    spread: bool = False, preemptors: int = 0) -> dict[str, Any]:
    client = Client.from_kubeconfig(server.kubeconfig)
    hollow = hollow_nodes(server.kubeconfig, work, nodes, spread)
    try:
        await wait_count(client, "nodes", nodes)
        for h in hollow:
            stop(h)  # nodes stay Ready (no node controller runs); pods stay bound-only
        create_rate = await create_pods(client, pods, spread=spread)
        watcher = asyncio.create_task(binding_times(client, pods, timeout=1800))
        await asyncio.sleep(0.5)
        started = time.monotonic()
        sched = component("scheduler", server.kubeconfig, work / "scheduler.log",
                          "--leader-elect=false")
        try:
            times = await watcher
            out: dict[str, Any] = {
                "create": create_rate,
                "bind window": (len(times) - 1) / max(1e-9, times[-1] - times[0]),
                "from start": len(times) / (times[-1] - started)}
            if preemptors:
                out["preempt"] = await bench_preemption(client, preemptors)
        finally:
            stop(sched)
        out["failures"] = await verify(client, pods, spread)
        return out
    finally:
        for h in hollow:
            stop(h)
        await client.close()


async def bench_preemption(client: ApiClient, count: int) -> float:
    """``count`` high-priority pods that fit only by evicting: the time until all are bound."""
    watcher = asyncio.create_task(binding_times(client, count, timeout=900, prefix="hi-"))
    await asyncio.sleep(0.5)
    start = time.monotonic()
    for i in range(count):
        big = pod(i, prefix="hi", cpu="3990m")
        big["spec"]["priorityClassName"] = "bench-high"
        await client.create("pods", big)
    times = await watcher
    return count / (times[-1] - start)


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


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=5000)
    p.add_argument("--pods", type=int, default=30000)
    p.add_argument("--replicas", type=int, default=1000, help="0: skip the Deployment")
    p.add_argument("--store", choices=("etcd", "sqlite", "memory"), default="etcd")
    p.add_argument("--spread", action="store_true",
                   help="zone spread constraints and priorities (preemption) on every pod")
    p.add_argument("--preemptors", type=int, default=100,
                   help="with --spread: high-priority pods that must preempt")
    args = p.parse_args()
    target = TARGET_SPREAD if args.spread else TARGET
    algo = bench_algorithm(args.nodes, min(args.pods, 5000), spread=args.spread)
    rows = [("algorithm (CPU only)", algo, "pods/s")]
    print(f"{rows[0][0]:<34}{rows[0][1]:>10.0f} {rows[0][2]}", flush=True)
    with server_on(args.store) as srv:
        e2e = asyncio.run(bench_e2e(srv, srv.workdir, args.nodes, args.pods,
                                    spread=args.spread,
                                    preemptors=args.preemptors if args.spread else 0))
        rows += [("pod creates (50 clients)", e2e["create"], "pods/s"),
                 ("scheduler e2e, binding window", e2e["bind window"], "pods/s"),
                 ("scheduler e2e, from process start", e2e["from start"], "pods/s")]
        if "preempt" in e2e:
            rows.append((f"{args.preemptors} preemptors bound", e2e["preempt"], "pods/s"))
    if args.replicas:
        with server_on(args.store) as srv:
            secs = asyncio.run(bench_deployment(srv, srv.workdir, args.nodes, args.replicas))
            rows.append((f"{args.replicas}-replica Deployment all Running", secs, "s"))
    print(f"\nnodes={args.nodes} pods={args.pods} store={args.store} spread={args.spread} "
          f"target={target:.0f} pods/s\n")
    for name, value, unit in rows:
        verdict = ""
        if (unit == "pods/s" and "scheduler" in name) or name.startswith("algorithm"):
            verdict = (f"{value / target:.2f}x target, {value / UPSTREAM:.2f}x upstream's "
                       f"{UPSTREAM:.0f}: {'met' if value >= target else 'not met'}")
        print(f"{name:<40}{value:>10.1f} {unit:<7}{verdict}")
    print(f"scheduler e2e / pod creates (the apiserver's write ceiling, same run): "
          f"{e2e['bind window'] / e2e['create']:.2f}x")
    for failure in e2e["failures"]:
        print(f"FAILURE: {failure}")
    return 1 if e2e["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
