"""``/readyz`` latency while one client sends garbage, beside idle latency in the same run.

Run from the repository root (not a test; about a minute with the defaults)::

    PYTHONPATH=. .venv/bin/python benchmarks/apiserver/bench_readyz.py [--seconds 10] \\
        [--interval 0.01] [--store memory|sqlite] [--seed 1]

It starts a kboot-apiserver subprocess (tests/fixtures/apiserver.py) and probes ``/readyz``
every ``--interval`` seconds on a kept-alive connection (tests/fixtures/readyz.py) for
``--seconds`` in each phase, while one other client, on its own connection, sends back to back:

- ``idle``: nothing;
- ``alias bomb``: a ~550-byte YAML Pod whose aliases expand to 10^7 strings (issue 14);
- ``2 MiB YAML``: a legal-size YAML body that takes seconds to parse (decoded off the loop);
- ``random garbage``: a seeded mix of random bytes, truncated and deeply nested JSON/YAML, alias
  bombs of random shape, YAML-only types, NaN/1e400, oversized bodies, unknown media types and
  patch types, on random resource paths.

Beside the probes, a ConfigMap is created every 50 ms and timed from its create to its ADDED
event on an open watch. It prints /readyz p50/p99/max per phase, the p99 ratio to idle, watch
delivery p50/p99, what the other client achieved and any 5xx it got (there must be none), and
the load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from tests.fixtures.apiserver import ApiServer, start_apiserver
from tests.fixtures.readyz import (
    Outgoing,
    ReadyzProber,
    RequestLoop,
    WatchProber,
    alias_bomb,
    repeated,
)

PODS = "/api/v1/namespaces/default/pods"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


@dataclass(frozen=True)
class Phase:
    name: str
    probes: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    failed_probes: int
    load: str
    codes: dict[int, int]
    watch_p50_ms: float
    watch_p99_ms: float
    watch_events: int


def big_yaml(size: int) -> bytes:
    item = "- {name: item, value: [1, 2, 3], nested: {a: b, c: d}}\n"
    return (item * (size // len(item))).encode()


def _garbage_body(rng: random.Random) -> tuple[bytes, str]:
    depth = rng.randint(50, 3000)
    choices: list[tuple[bytes, str]] = [
        (rng.randbytes(rng.randint(0, 4096)), "application/json"),
        (rng.randbytes(rng.randint(0, 4096)), "application/yaml"),
        (b'{"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [', "application/json"),
        (b"[" * depth + b"]" * depth, rng.choice(["application/json", "application/yaml"])),
        (("x:\n" + "".join("  " * i + "- \n" for i in range(1, min(depth, 900)))).encode(),
         "application/yaml"),
        (alias_bomb(levels=rng.randint(3, 9), fan=rng.randint(2, 12)),
         rng.choice(["application/yaml", "application/apply-patch+yaml"])),
        (b"metadata: {name: 2024-01-01, labels: {1: a, true: b}}\ndata: {null: x}\n",
         "application/yaml"),
        (b'{"metadata": {"name": "n"}, "spec": {"replicas": NaN, "x": 1e400}}',
         "application/json"),
        (big_yaml(rng.randint(1, 3) * 1024 * 1024), "application/yaml"),
        (b"x" * (3 * 1024 * 1024 + rng.randint(1, 4096)), "application/json"),
        (json.dumps({"kind": "ConfigMap", "data": {"k": rng.random()}}).encode(),
         rng.choice(["text/plain", "application/xml", "application/json-patch+json"])),
    ]
    return rng.choice(choices)


def garbage(seed: int) -> Iterator[Outgoing]:
    """An endless, seeded stream of bad requests."""
    rng = random.Random(seed)
    while True:
        body, content_type = _garbage_body(rng)
        path = rng.choice([PODS, CONFIGMAPS, f"{PODS}/p", f"{CONFIGMAPS}/c",
                           "/apis/apps/v1/namespaces/default/deployments"])
        method = "POST" if not path.endswith(("/p", "/c")) else rng.choice(["PUT", "PATCH"])
        if method == "PATCH" and content_type == "application/json":
            content_type = "application/merge-patch+json"
        yield Outgoing(method, path, body, content_type)


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def measure(server: ApiServer, name: str, requests: Iterator[Outgoing] | None,
            seconds: float, interval: float) -> Phase:
    stop = threading.Event()
    namespace = f"bench-watch-{name.replace(' ', '-').lower()}"
    with ReadyzProber(server, interval=interval) as prober, \
            WatchProber(server, namespace) as watcher:
        if requests is None:
            stop.wait(seconds)
            sent = []
        else:
            with RequestLoop(server, requests) as loop:
                stop.wait(seconds)
            sent = loop.sent
    ok = [p for p in prober.probes if p.status == 200]
    return Phase(name, len(prober.probes), prober.percentile(0.5, ok), prober.percentile(0.99, ok),
                 max(p.seconds for p in ok) * 1000, len(prober.probes) - len(ok), load_average(),
                 dict(collections.Counter(s.status for s in sent)), watcher.percentile(0.5),
                 watcher.percentile(0.99), len(watcher.latencies))


def render(phases: list[Phase], seconds: float) -> str:
    idle = phases[0]
    lines = [f"/readyz latency, {seconds:g} s per phase, one other client sending back to back",
             f"{'phase':<16}{'probes':>7}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}"
             f"{'p99/idle':>10}{'watch p50/p99 ms':>18}  {'other client: replies by status':<40}"
             "load avg"]
    for ph in phases:
        codes = ", ".join(f"{c}: {n}" for c, n in sorted(ph.codes.items())) or "-"
        rate = sum(ph.codes.values()) / seconds
        other = f"{rate:6.1f}/s ({codes})" if ph.codes else "-"
        fails = f"  {ph.failed_probes} probes FAILED" if ph.failed_probes else ""
        lines.append(f"{ph.name:<16}{ph.probes:>7}{ph.p50_ms:>10.2f}{ph.p99_ms:>10.2f}"
                     f"{ph.max_ms:>10.1f}{ph.p99_ms / idle.p99_ms:>9.1f}x"
                     f"{ph.watch_p50_ms:>9.1f}/{ph.watch_p99_ms:<8.1f}  {other:<40}"
                     f"{ph.load}{fails}")
    five_xx = sum(n for ph in phases for c, n in ph.codes.items() if c >= 500)
    lines.append(f"5xx replies to the other client: {five_xx}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    store = "memory://" if args.store == "memory" else "sqlite"
    with start_apiserver(store, log_level="WARNING") as server:
        print(f"load average before: {load_average()}")
        phases = [
            measure(server, "idle", None, args.seconds, args.interval),
            measure(server, "alias bomb", repeated("POST", PODS, alias_bomb(7, 10)),
                    args.seconds, args.interval),
            measure(server, "2 MiB YAML", repeated("POST", CONFIGMAPS, big_yaml(2 * 1024 * 1024)),
                    args.seconds, args.interval),
            measure(server, "random garbage", garbage(args.seed), args.seconds, args.interval),
        ]
    print(render(phases, args.seconds))


if __name__ == "__main__":
    main()
