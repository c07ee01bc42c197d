"""Port-forward throughput and request latency, next to a direct connection to the pod IP.

Runs the one-node test cluster (apiserver + private containerd in a netns + kboot-kubelet) with
one busybox ``httpd`` pod serving a ``--mb`` MB file and a 2-byte page, then, in the same run:

- direct: HTTP to ``podIP:8080`` from the host (the floor: TCP through the CNI bridge);
- ``kubectl port-forward`` in each tunnel mode (WebSocket, and SPDY forced with
  ``KUBECTL_PORT_FORWARD_WEBSOCKETS=false``): kubectl → apiserver → kubelet → the pod's netns.

Throughput is the big file fetched ``--rounds`` times (MB/s); latency is ``--requests``
sequential GETs of the small page, each on a new connection (a new forwarded stream pair).
Ratios are to direct. Run as root from the repo root::

    PYTHONPATH=. .venv/bin/python benchmarks/kubelet/bench_port_forward.py --mb 64

Not a test: numbers depend on the machine; nothing asserts.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.integration.apiserver.portforward_kubelet import MODES, kubectl_forward
from tests.integration.kubelet.cluster import Cluster, one_node_cluster, pod


def _fetch(host: str, port: int, path: str) -> int:
    conn = http.client.HTTPConnection(host, port, timeout=120)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        size = 0
        while chunk := resp.read(1 << 20):
            size += len(chunk)
        assert resp.status == 200, resp.status
        return size
    finally:
        conn.close()


def measure(host: str, port: int, *, rounds: int, requests: int) -> tuple[float, list[float]]:
    """(MB/s over ``rounds`` big fetches, per-request latencies in ms)."""
    _fetch(host, port, "/index.html")  # warm up (first stream, connections, caches)
    started, total = time.perf_counter(), 0
    for _ in range(rounds):
        total += _fetch(host, port, "/big")
    mbps = total / (time.perf_counter() - started) / 1e6
    latencies = []
    for _ in range(requests):
        t = time.perf_counter()
        _fetch(host, port, "/index.html")
        latencies.append((time.perf_counter() - t) * 1000)
    return mbps, latencies


def run(cluster: Cluster, args: argparse.Namespace) -> None:
    cmd = (f"mkdir -p /w && echo -n hi > /w/index.html && dd if=/dev/zero of=/w/big bs=1M "
           f"count={args.mb} 2>/dev/null && exec httpd -f -p 8080 -h /w")
    cluster.apply(pod("bench-pf", cmd))
    ip = cluster.wait_running("bench-pf")["status"]["podIP"]
    results = {"direct": measure(ip, 8080, rounds=args.rounds, requests=args.requests)}
    for mode in sorted(MODES):
        with kubectl_forward(cluster.server, "default", "pod/bench-pf", 8080, mode) as (port, _):
            results[mode] = measure("127.0.0.1", port, rounds=args.rounds,
                                    requests=args.requests)
    base_mbps, base_lat = results["direct"]
    base_p50 = statistics.median(base_lat)
    print(f"port-forward, {args.rounds} x {args.mb} MB and {args.requests} requests; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'path':<12}{'MB/s':>10}{'x direct':>10}{'p50 ms':>10}{'p99 ms':>10}"
          f"{'p50 x direct':>14}")
    for name, (mbps, lat) in results.items():
        p50, p99 = statistics.median(lat), statistics.quantiles(lat, n=100)[98]
        print(f"{name:<12}{mbps:>10.1f}{mbps / base_mbps:>10.3f}{p50:>10.2f}{p99:>10.2f}"
              f"{p50 / base_p50:>14.1f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mb", type=int, default=64, help="size of the big file")
    p.add_argument("--rounds", type=int, default=3, help="big-file fetches per path")
    p.add_argument("--requests", type=int, default=200, help="small requests per path")
    args = p.parse_args()
    with one_node_cluster(slot=29, resync=5.0) as cluster:
        run(cluster, args)


if __name__ == "__main__":
    main()
