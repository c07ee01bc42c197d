"""Ingress on a real cluster: requests/s and p99 latency through kboot-ingress vs directly to the
Service's ClusterIP (kboot-proxy's iptables path), measured in one run from inside a worker.

    .venv/bin/python -m benchmarks.ingress.bench_ingress_lab [--requests 2000] [--concurrency 10]

Brings up a 1 + 1 lab (``kbing``, pre-provisioned image, 10.77.251.0/24), runs ``kboot up``,
deploys the example application (examples/hello.yaml) and an Ingress for it, then runs the same
bounded load generator (stdlib, keep-alive connections, one thread per connection) on the
worker against the ingress (node address, Host header) and against the ClusterIP, and prints
both rows with their ratio. Removes the lab afterwards unless ``--keep``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kboot.lab import Lab

INGRESS = """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: hello, namespace: hello}
spec:
  rules:
    - host: hello.example.test
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: hello, port: {number: 80}}}}
"""

# Runs on the worker (Debian's python3): N keep-alive connections, bounded requests, latencies.
LOAD = r"""
import http.client, json, sys, threading, time
host, vhost = sys.argv[1], sys.argv[3]
port, total, conc = int(sys.argv[2]), int(sys.argv[4]), int(sys.argv[5])
lat, errors, lock = [], [0], threading.Lock()
def worker(n):
    conn = http.client.HTTPConnection(host, port, timeout=5)
    for _ in range(n):
        t = time.perf_counter()
        try:
            conn.request("GET", "/", headers={"Host": vhost})
            r = conn.getresponse(); r.read()
            ok = r.status == 200
        except OSError:
            ok = False; conn.close(); conn = http.client.HTTPConnection(host, port, timeout=5)
        with lock:
            (lat.append(time.perf_counter() - t) if ok else errors.__setitem__(0, errors[0] + 1))
start = time.perf_counter()
ts = [threading.Thread(target=worker, args=(total // conc,)) for _ in range(conc)]
[t.start() for t in ts]; [t.join() for t in ts]
wall = time.perf_counter() - start
lat.sort()
print(json.dumps({"rps": len(lat) / wall, "p50": lat[len(lat) // 2] * 1e3,
                  "p99": lat[int(len(lat) * 0.99) - 1] * 1e3, "errors": errors[0]}))
"""


def _kboot(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "kboot.cli.main", *args], env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"kboot {' '.join(args)} failed:\n{proc.stdout[-3000:]}{proc.stderr}")
    return proc.stdout


def _kubectl(kubeconfig: Path, *args: str) -> str:
    return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], check=True,
                          capture_output=True, text=True).stdout


def _load(lab: Lab, node: str, target: str, vhost: str, requests: int,
          conc: int) -> dict[str, float]:
    result = lab.exec(node, ["python3", "-c", LOAD, target, "80", vhost, str(requests), str(conc)],
                      timeout=600)
    if result.exit_code != 0:
        raise SystemExit(f"load generator failed on {node}: {result.stderr}")
    data: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="kboot-bench-ing-"))
    env = {**os.environ, "KBOOT_HOME": str(home)}
    lab = Lab("kbing", control_planes=1, workers=1, subnet="10.77.251.0/24", image="provisioned",
              inventory_path=home / "lab-kbing.yaml")
    lab.down()
    inventory = lab.up()
    try:
        _kboot(env, "up", str(inventory), "--bundle", str(Path.home() / ".kboot" / "bundle"))
        kubeconfig = home / "clusters" / "kbing" / "kubeconfigs" / "admin.kubeconfig"
        _kubectl(kubeconfig, "apply", "-f", "examples/hello.yaml")
        (home / "ingress.yaml").write_text(INGRESS)
        _kubectl(kubeconfig, "apply", "-f", str(home / "ingress.yaml"))
        _kubectl(kubeconfig, "-n", "hello", "rollout", "status", "deploy/hello", "--timeout=180s")
        cluster_ip = _kubectl(kubeconfig, "-n", "hello", "get", "svc", "hello", "-o",
                              "jsonpath={.spec.clusterIP}").strip()
        worker = lab.node("w1")
        _load(lab, worker.name, worker.address, "hello.example.test", 200, 2)  # warm-up
        rows = {
            "Service ClusterIP (kboot-proxy)": _load(lab, worker.name, cluster_ip, "hello",
                                                     args.requests, args.concurrency),
            "Ingress (kboot-ingress haproxy)": _load(lab, worker.name, worker.address,
                                                     "hello.example.test", args.requests,
                                                     args.concurrency),
        }
    finally:
        if not args.keep:
            lab.down()
    base = rows["Service ClusterIP (kboot-proxy)"]
    table = Table(title=f"{args.requests} GETs over {args.concurrency} connections, "
                        "from the worker")
    for col in ("path", "req/s", "p50 ms", "p99 ms", "errors", "req/s vs ClusterIP",
                "p99 vs ClusterIP"):
        table.add_column(col)
    for name, r in rows.items():
        table.add_row(name, f"{r['rps']:.0f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}",
                      str(int(r["errors"])), f"{r['rps'] / base['rps']:.2f}",
                      f"{r['p99'] / base['p99']:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
