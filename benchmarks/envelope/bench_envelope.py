"""Scale envelope: ``--nodes`` hollow nodes and ``--pods`` pods on one machine, with upstream's
API SLOs checked and memory per stored object and per node reported (issue 22). Not a test.

Run from the repository root (the full size is the default; smaller sizes for a loaded box)::

    PYTHONPATH=. .venv/bin/python benchmarks/envelope/bench_envelope.py \\
        [--nodes 5000] [--pods 100000] [--namespaces 100] [--clients 50]

What runs: etcd, one ``kboot-apiserver`` on it and one ``kboot-hollow-nodes`` process whose
nodes renew their Lease every ``--heartbeat`` s (10, as kubelets) and report the pods bound to
them Running. The pods are created already bound (``spec.nodeName``, round robin over the
nodes), spread over ``--namespaces`` namespaces, by ``--clients`` concurrent clients — the
scheduler is measured by ``bench_scheduler.py``; this one loads the API and the store.

While the pods are created, a probe loop measures, one request after another:

- mutating: every pod create, plus a ConfigMap patch per probe round;
- get: a random existing pod, and a node;
- list: one namespace's pods, and — every ``--list-every`` rounds and once at the end — all pods
  of the cluster (a consistent list from the store).

Upstream's SLOs (``sig-scalability/slos``): mutating p99 ≤ 1 s, get p99 ≤ 1 s, list p99 ≤ 30 s
(cluster scope; 5 s namespace scope). Memory: resident memory of the apiserver, etcd and the
hollow-node process after the nodes and after the pods; per stored object is the apiserver's
and etcd's growth over the pods divided by the pods, per node the growth over the nodes divided
by the nodes (apiserver + etcd) and the hollow process's memory per simulated node.

Exit status 1 (with ``FAILURE:`` lines) when a list misses acknowledged pods or a pod create
fails; SLOs missed are reported, not failures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.errors import AlreadyExists, ApiError
from kboot.controlplane.client.rest import Client
from tests.fixtures.apiserver import start_apiserver
from tests.fixtures.etcd import start_etcd

ROOT = Path(__file__).resolve().parents[2]
SLO = {"mutating": 1.0, "get": 1.0, "list (namespace)": 5.0, "list (cluster)": 30.0}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pod(i: int, nodes: int, namespaces: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"p-{i}", "namespace": f"ns-{i % namespaces}",
                         "labels": {"app": "envelope", "group": str(i % 10)}},
            "spec": {"nodeName": f"hollow-{i % nodes}",
                     "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9",
                                     "resources": {"requests": {"cpu": "10m",
                                                                "memory": "16Mi"}}}]}}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


class Probe:
    def __init__(self, client: ApiClient, namespaces: int, nodes: int) -> None:
        self.client, self.namespaces, self.nodes = client, namespaces, nodes
        self.samples: dict[str, list[float]] = {k: [] for k in SLO}
        self.failures: list[str] = []
        self.created: list[str] = []  # "ns/name" acknowledged

    async def timed(self, kind: str, call: Any) -> Any:
        start = time.perf_counter()
        out = await call
        self.samples[kind].append(time.perf_counter() - start)
        return out

    async def cluster_list(self) -> None:
        acknowledged = len(self.created)  # every create acknowledged before the list starts
        page = await self.timed("list (cluster)", self.client.list("pods"))
        have = sum(1 for p in page["items"] if p["metadata"]["name"].startswith("p-"))
        if have < acknowledged:
            self.failures.append(f"cluster list: {have} pods, {acknowledged} acknowledged")

    async def loop(self, stop: asyncio.Event, list_every: int) -> None:
        rounds = 0
        while not stop.is_set():
            rounds += 1
            await self.timed("mutating", self.client.patch(
                "configmaps", "probe", namespace="default",
                patch={"data": {"round": str(rounds)}}))
            if self.created:
                ns, name = random.choice(self.created).split("/")
                await self.timed("get", self.client.get("pods", name, namespace=ns))
            await self.timed("get", self.client.get(
                "nodes", f"hollow-{random.randrange(self.nodes)}"))
            await self.timed("list (namespace)", self.client.list(
                "pods", namespace=f"ns-{random.randrange(self.namespaces)}"))
            if rounds % list_every == 0:
                await self.cluster_list()
            await asyncio.sleep(0.2)


async def wait_nodes(client: ApiClient, want: int, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = await client.list("nodes", limit=1)
        left = page["metadata"].get("remainingItemCount")
        have = len(page["items"]) + int(left) if left is not None else (
            len((await client.list("nodes"))["items"]))
        if have >= want:
            return
        await asyncio.sleep(2)
    raise SystemExit(f"FAILURE: fewer than {want} nodes registered after {timeout:.0f} s")


async def run(kubeconfig: Path, args: argparse.Namespace, pids: dict[str, int],
              work: Path) -> int:
    client = Client.from_kubeconfig(kubeconfig)
    mem: dict[str, dict[str, float]] = {"start": {k: rss_mib(p) for k, p in pids.items()}}
    hollow = subprocess.Popen(
        [sys.executable, "-c", "import sys; from kboot.controlplane.hollow.main import main;"
         " sys.exit(main(sys.argv[1:]))", f"--kubeconfig={kubeconfig}",
         f"--count={args.nodes}", f"--heartbeat-interval={args.heartbeat:g}s"],
        stdout=(work / "hollow.log").open("ab"), stderr=subprocess.STDOUT, cwd=str(ROOT))
    try:
        t0 = time.monotonic()
        await wait_nodes(client, args.nodes)
        register = time.monotonic() - t0
        print(f"  {args.nodes} nodes registered in {register:.0f} s", flush=True)
        await asyncio.sleep(5)
        pids["hollow"] = hollow.pid
        mem["nodes"] = {k: rss_mib(p) for k, p in pids.items()}
        for i in range(args.namespaces):
            await client.create("namespaces", {"metadata": {"name": f"ns-{i}"}})
        await client.create("configmaps", {"metadata": {"name": "probe", "namespace": "default"},
                                           "data": {}})
        probe = Probe(client, args.namespaces, args.nodes)
        stop = asyncio.Event()
        prober = asyncio.create_task(probe.loop(stop, args.list_every))
        queue = iter(range(args.pods))
        errors: list[str] = []
        retried: list[int] = []

        async def writer() -> None:
            for i in queue:
                body = pod(i, args.nodes, args.namespaces)
                try:
                    await probe.timed("mutating", client.create("pods", body))
                except AlreadyExists:  # the client's retry of a create that had landed
                    retried.append(i)
                except (ApiError, OSError, TimeoutError) as exc:  # counted and reported
                    errors.append(f"p-{i}: {exc}")
                    continue
                probe.created.append(f"{body['metadata']['namespace']}/p-{i}")
                if i and i % 10000 == 0:
                    print(f"  {i} pods, {time.monotonic() - t1:.0f} s", flush=True)

        t1 = time.monotonic()
        await asyncio.gather(*(writer() for _ in range(args.clients)))
        create_secs = time.monotonic() - t1
        await asyncio.sleep(20)  # steady state: heartbeats and Running updates settle
        stop.set()
        await prober
        await probe.cluster_list()
        mem["pods"] = {k: rss_mib(p) for k, p in pids.items()}
    finally:
        hollow.terminate()
        try:
            hollow.wait(15)
        except subprocess.TimeoutExpired:
            hollow.kill()
        await client.close()
    if retried:
        print(f"{len(retried)} creates answered 409 AlreadyExists on the client's retry "
              "(the first attempt was stored; counted in the lists)")
    return report(args, probe, errors, mem, register, create_secs)


def report(args: argparse.Namespace, probe: Probe, errors: list[str],
           mem: dict[str, dict[str, float]], register: float, create_secs: float) -> int:
    print(f"\nnodes={args.nodes} pods={args.pods} namespaces={args.namespaces} "
          f"clients={args.clients} heartbeat={args.heartbeat:g}s "
          f"load={os.getloadavg()[0]:.1f}")
    print(f"nodes registered in {register:.0f} s; pods created in {create_secs:.0f} s "
          f"({args.pods / create_secs:.0f}/s)\n")
    print(f"{'request':<20}{'n':>8}{'p50 s':>9}{'p99 s':>9}{'SLO p99':>9}  verdict")
    for kind, limit in SLO.items():
        s = probe.samples[kind]
        p99 = pct(s, 0.99)
        print(f"{kind:<20}{len(s):>8}{pct(s, 0.5):>9.3f}{p99:>9.3f}{limit:>8.0f}s  "
              f"{'met' if p99 <= limit else 'NOT met'} ({p99 / limit:.2f}x of the SLO)")
    grow = {k: mem["pods"][k] - mem["nodes"].get(k, 0) for k in ("apiserver", "etcd")}
    node_grow = {k: mem["nodes"][k] - mem["start"][k] for k in ("apiserver", "etcd")}
    print("\nresident memory MiB   start    nodes     pods")
    for k in ("apiserver", "etcd", "hollow"):
        print(f"  {k:<18}{mem['start'].get(k, 0):>7.0f}{mem['nodes'].get(k, 0):>9.0f}"
              f"{mem['pods'].get(k, 0):>9.0f}")
    per_pod = {k: v * 1024 / args.pods for k, v in grow.items()}
    per_node = {k: v * 1024 / args.nodes for k, v in node_grow.items()}
    print(f"per stored pod: apiserver {per_pod['apiserver']:.1f} KiB, etcd "
          f"{per_pod['etcd']:.1f} KiB")
    print(f"per node: apiserver {per_node['apiserver']:.1f} KiB, etcd {per_node['etcd']:.1f} KiB"
          f", hollow process {mem['pods']['hollow'] * 1024 / args.nodes:.1f} KiB")
    failures = [*probe.failures, *errors[:20]]
    if errors:
        failures.append(f"{len(errors)} pod creates failed")
    for f in failures:
        print(f"FAILURE: {f}")
    return 1 if failures else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=5000)
    p.add_argument("--pods", type=int, default=100000)
    p.add_argument("--namespaces", type=int, default=100)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--heartbeat", type=float, default=10.0,
                   help="seconds between a hollow node's status updates (kubelet: 10)")
    p.add_argument("--list-every", type=int, default=25,
                   help="probe rounds between cluster-wide pod lists")
    args = p.parse_args()
    with start_etcd() as etcd, start_apiserver(etcd.url, log_level="WARNING") as srv:
        pids = {"apiserver": srv.process.pid, "etcd": etcd.pids[0]}
        return asyncio.run(run(srv.kubeconfig, args, pids, srv.workdir))


if __name__ == "__main__":
    sys.exit(main())
