"""Ingress data path: requests/s and p99 latency through kboot-ingress's haproxy vs directly to
the backend, in one run, on loopback only.

Run from the repository root (not a test; takes about half a minute)::

    PYTHONPATH=. .venv/bin/python benchmarks/ingress/bench_ingress.py [--requests 5000] \\
        [--concurrency 20]

A backend "pod" (aiohttp, in its own process, on 127.0.0.2) answers a small body. The
configuration haproxy runs is the one :func:`kboot.controlplane.ingress.config.render` produces
for one Ingress (host + Prefix path, TLS from a Secret issued with ``kboot.pki``), started by
the controller's own :class:`HAProxy` class — so this measures exactly what a node serves,
without the apiserver (the control path is not on the data path). Rows:

- ``direct``         — client → backend;
- ``ingress http``   — client → haproxy (Host + path routing) → backend;
- ``ingress https``  — the same with TLS terminated at haproxy (keep-alive, so handshakes are
  amortised).

Each row sends ``--requests`` GETs over ``--concurrency`` keep-alive connections after a short
warm-up; ratios are against ``direct``. The Python client is usually the bottleneck on small
machines, so read the ratios as overhead, not as haproxy's capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from kboot.controlplane.ingress.config import render
from kboot.controlplane.ingress.haproxy import HAProxy, HAProxyPaths
from kboot.pki import CertSpec, issue, new_ca
from tests.fixtures.etcd import free_port

HOST = "bench.example.test"
BACKEND = """
import sys
from aiohttp import web
async def hello(request):
    return web.Response(text="pod " + request.path)
app = web.Application()
app.router.add_get("/{tail:.*}", hello)
web.run_app(app, host="127.0.0.2", port=int(sys.argv[1]), print=None, access_log=None)
"""


@dataclass(frozen=True)
class Row:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


class _Loopback(AbstractResolver):
    """``bench.example.test`` is 127.0.0.1 (so Host, SNI and certificate checks are real)."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        assert host == HOST, host
        return [{"hostname": host, "host": "127.0.0.1", "port": port,
                 "family": socket.AF_INET, "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        pass


async def _load(url: str, *, requests: int, concurrency: int,
                ssl_ctx: ssl.SSLContext | None) -> Row:
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=ssl_ctx or False,
                                     resolver=_Loopback())
    async with aiohttp.ClientSession(connector=connector) as session:
        remaining = iter(range(requests))

        async def worker() -> None:
            nonlocal errors
            for _ in remaining:
                started = time.perf_counter()
                async with session.get(url) as resp:
                    await resp.read()
                    errors += resp.status != 200
                latencies.append(time.perf_counter() - started)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return Row(url, requests / elapsed, latencies[len(latencies) // 2] * 1000,
               latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, errors)


def _objects(backend_port: int, pem: tuple[bytes, bytes]) -> dict[str, list[dict[str, object]]]:
    b64 = [base64.b64encode(p).decode() for p in pem]
    return {
        "ingresses": [{"metadata": {"name": "bench", "namespace": "default"}, "spec": {
            "ingressClassName": "kboot",
            "tls": [{"hosts": [HOST], "secretName": "bench-tls"}],
            "rules": [{"host": HOST, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                       "backend": {"service": {"name": "pod", "port": {"number": 80}}}}]}}]}}],
        "classes": [{"metadata": {"name": "kboot"}, "spec": {"controller": "kboot.io/ingress"}}],
        "services": [{"metadata": {"name": "pod", "namespace": "default"},
                      "spec": {"ports": [{"name": "http", "port": 80}]}}],
        "endpoints": [{"metadata": {"name": "pod", "namespace": "default"}, "subsets": [
            {"addresses": [{"ip": "127.0.0.2"}],
             "ports": [{"name": "http", "port": backend_port}]}]}],
        "secrets": [{"metadata": {"name": "bench-tls", "namespace": "default"},
                     "type": "kubernetes.io/tls", "data": {"tls.crt": b64[0], "tls.key": b64[1]}}],
    }


async def run(requests: int, concurrency: int) -> list[Row]:
    ca = new_ca("kboot-ingress-bench-ca")
    pair = issue(ca, CertSpec(HOST, dns_names=(HOST,), server=True))
    backend_port, http_port, https_port = free_port(), free_port(), free_port()
    work = Path(tempfile.mkdtemp(prefix="kboot-ingress-bench-"))
    objs = _objects(backend_port, (pair.cert_pem(), pair.key_pem()))
    rendered = render(objs["ingresses"], objs["classes"], objs["services"], objs["endpoints"],
                      objs["secrets"], node_ips=["127.0.0.1"], http_port=http_port,
                      https_port=https_port, certs_dir=str(work / "certs"))
    proxy = HAProxy(HAProxyPaths(Path("/usr/sbin/haproxy"), work / "haproxy.cfg",
                                 work / "certs"))
    pod = subprocess.Popen([sys.executable, "-c", BACKEND, str(backend_port)])
    ctx = ssl.create_default_context(cadata=ca.cert_pem().decode())
    try:
        await proxy.apply(rendered)
        await asyncio.sleep(1.0)
        targets = [("direct", f"http://127.0.0.2:{backend_port}/x", None),
                   ("ingress http", f"http://{HOST}:{http_port}/x", None),
                   ("ingress https", f"https://{HOST}:{https_port}/x", ctx)]
        rows = []
        for name, url, tls in targets:
            await _load(url, requests=min(500, requests), concurrency=concurrency, ssl_ctx=tls)
            row = await _load(url, requests=requests, concurrency=concurrency, ssl_ctx=tls)
            rows.append(Row(name, row.rps, row.p50_ms, row.p99_ms, row.errors))
        return rows
    finally:
        await proxy.stop()
        pod.terminate()
        pod.wait()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    rows = asyncio.run(run(args.requests, args.concurrency))
    base = rows[0]
    print(f"{args.requests} requests, {args.concurrency} keep-alive connections, loopback")
    print(f"{'path':<15}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'rps ratio':>11}{'p99 ratio':>11}")
    for r in rows:
        print(f"{r.name:<15}{r.rps:>10.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{r.errors:>8}"
              f"{r.rps / base.rps:>11.2f}{r.p99_ms / base.p99_ms:>11.2f}")


if __name__ == "__main__":
    main()
