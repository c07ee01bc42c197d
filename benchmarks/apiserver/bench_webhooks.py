"""Admission webhook round-trip overhead per write: creates with and without a no-op webhook.

Run from the repository root (not a test; under a minute with the defaults)::

    PYTHONPATH=. .venv/bin/python benchmarks/apiserver/bench_webhooks.py \\
        [--creates 2000] [--clients 16] [--rounds 2]

It starts a kboot-apiserver subprocess (memory store, tests/fixtures/apiserver.py) and, in a
process of its own (so that it shares no interpreter with the load generator), a no-op HTTPS
webhook (tests/fixtures/webhook_server.py, ``/allow``, on this machine's loopback) registered
as a ValidatingWebhookConfiguration and a MutatingWebhookConfiguration for ConfigMaps in one
namespace only. Then ``--clients`` concurrent clients create ``--creates`` ConfigMaps in the
plain namespace and as many in the hooked one, alternating phases for ``--rounds`` rounds, in
the same run. It prints creates/s and p50/p99 latency per phase and
the ratios hooked/plain (each hooked create makes two webhook calls: mutating, validating).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.fixtures.webhook_server import WebhookServer

GROUP = "/apis/admissionregistration.k8s.io/v1"
PLAIN, HOOKED = "bench-plain", "bench-hooked"


def serve_webhook(conn: Connection, ca_pem: bytes, key_pem: bytes, workdir: str) -> None:
    """Child process: run the webhook, send its client config, on "stop" send its call count."""
    from kboot.pki import CertKeyPair
    hooks = WebhookServer(CertKeyPair.from_pem(ca_pem, key_pem), Path(workdir)).start()
    conn.send(hooks.client_config("/allow"))
    conn.recv()
    conn.send(len(hooks.reviews))
    hooks.stop()


def configuration(kind: str, client_config: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
            "metadata": {"name": "bench"}, "webhooks": [{
                "name": "noop.bench.kboot.test", "clientConfig": client_config,
                "sideEffects": "None", "admissionReviewVersions": ["v1"],
                "namespaceSelector": {"matchLabels": {"bench": "hooked"}},
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                           "resources": ["configmaps"]}]}]}


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> None:
    async with session.post(url, json=body) as resp:
        if resp.status not in (200, 201):
            raise RuntimeError(f"POST {url}: {resp.status} {await resp.text()}")


async def phase(session: aiohttp.ClientSession, server: ApiServer, ns: str, creates: int,
                clients: int, names: itertools.count[int]) -> tuple[float, list[float]]:
    """``creates`` ConfigMaps in ``ns`` from ``clients`` workers: (creates/s, latencies)."""
    url = f"{server.url}/api/v1/namespaces/{ns}/configmaps"
    latencies: list[float] = []
    todo = iter(range(creates))

    async def worker() -> None:
        for _ in todo:
            body = {"metadata": {"name": f"cm-{next(names)}"}, "data": {"k": "v"}}
            start = time.perf_counter()
            await post(session, url, body)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return creates / (time.perf_counter() - start), latencies


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (a shared machine's load inflates
    latencies; the apiserver's own CPU per create is the steadier measure)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else 0.0


async def run(server: ApiServer, hook: Connection, args: argparse.Namespace) -> None:
    client_config = hook.recv()
    connector = aiohttp.TCPConnector(ssl=server.ssl_context(), limit=args.clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        for ns, labels in ((PLAIN, {}), (HOOKED, {"bench": "hooked"})):
            await post(session, f"{server.url}/api/v1/namespaces",
                       {"metadata": {"name": ns, "labels": labels}})
        for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            await post(session, f"{server.url}{GROUP}/{kind.lower()}s",
                       configuration(kind, client_config))
        names = itertools.count()
        await phase(session, server, HOOKED, 50, args.clients, names)  # warm both paths
        await phase(session, server, PLAIN, 50, args.clients, names)
        results: dict[str, tuple[list[float], list[float]]] = {PLAIN: ([], []), HOOKED: ([], [])}
        cpu = {PLAIN: 0.0, HOOKED: 0.0}
        for _ in range(args.rounds):
            for ns in (PLAIN, HOOKED):
                before = cpu_seconds(server.process.pid)
                rate, lat = await phase(session, server, ns, args.creates, args.clients, names)
                cpu[ns] += cpu_seconds(server.process.pid) - before
                results[ns][0].append(rate)
                results[ns][1].extend(lat)
    hook.send("stop")
    calls = hook.recv()
    print(f"{args.creates} creates x {args.rounds} rounds per phase, {args.clients} clients; "
          f"{calls} webhook calls in all (warm-up included)")
    print(f"{'phase':<10} {'creates/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'apiserver CPU ms/create':>24}")
    summary = {}
    for ns, label in ((PLAIN, "plain"), (HOOKED, "webhooks")):
        rate = statistics.mean(results[ns][0])
        per_create = cpu[ns] * 1000 / (args.creates * args.rounds)
        summary[label] = (rate, p(results[ns][1], 50), p(results[ns][1], 99), per_create)
        print(f"{label:<10} {rate:>10.0f} {summary[label][1]:>8.1f} {summary[label][2]:>8.1f} "
              f"{per_create:>24.2f}")
    plain, hooked = summary["plain"], summary["webhooks"]
    print(f"ratio webhooks/plain: throughput {hooked[0] / plain[0]:.2f}x, "
          f"p50 {hooked[1] / plain[1]:.2f}x, p99 {hooked[2] / plain[2]:.2f}x, "
          f"apiserver CPU per create {hooked[3] / plain[3]:.2f}x")
    print(json.dumps({"plain": plain, "webhooks": hooked}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with start_apiserver("memory://", log_level="WARNING") as server:
        parent, child = multiprocessing.Pipe()
        proc = multiprocessing.Process(target=serve_webhook, args=(
            child, server.ca.cert_pem(), server.ca.key_pem(),
            tempfile.mkdtemp(prefix="bench-webhook-")))
        proc.start()
        try:
            asyncio.run(run(server, parent, args))
        finally:
            proc.join(30)
            if proc.is_alive():
                proc.terminate()


if __name__ == "__main__":
    main()
