"""What the metrics server knows: the last two scrapes of every kubelet, turned into
``metrics.k8s.io/v1beta1`` NodeMetrics and PodMetrics (pure: no I/O, no clock).

CPU is a rate, so it needs two points of the cumulative counters: usage is
``(cpu2 - cpu1) / (t2 - t1)`` cores, reported in nanocores (``123456789n``) like metrics-server;
memory is the latest working set, in ``Ki``. The ``window`` is the time between the points.

A container seen once, or restarted (its counter went backwards or its
``container_start_time_seconds`` changed), has no earlier sample; as metrics-server does, its
start time is then the earlier point, with zero CPU: ``cpu / (t - start)``. So a new pod has
metrics after the first scrape that sees it, not the second. Guards, as upstream's: the start
must be before the sample, and the container must be fresh (``t - start`` below a bound), since
for an old container first seen (the metrics server just started) the average over its life is
no current rate. Upstream's bounds are 10 s to one resolution, an empty range at kboot's 10 s
resolution, so kboot's are ``FRESH_MIN_WINDOW`` (shorter windows are mostly the runtime's start
cost) to two resolutions (a container started just after a scrape is first seen a little more
than one resolution later). Otherwise (and always for nodes) the pod waits for the next scrape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JsonObj = dict[str, Any]
GROUP_VERSION = "metrics.k8s.io/v1beta1"
ContainerKey = tuple[str, str, str]  # namespace, pod, container
FRESH_MIN_WINDOW = 0.25  # seconds: the shortest start-to-sample window used as a rate


@dataclass(frozen=True)
class Sample:
    cpu_seconds: float
    memory_bytes: int
    timestamp_ms: int
    started_ms: int = 0  # container_start_time_seconds; 0: unknown


@dataclass(frozen=True)
class Scrape:
    node: Sample | None
    containers: dict[ContainerKey, Sample] = field(default_factory=dict)


def _labels(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split('",'):
        key, _, value = part.partition('="')
        out[key.strip()] = value.rstrip('"').replace('\\"', '"').replace("\\\\", "\\")
    return out


def parse(text: str, now_ms: int) -> Scrape:
    """The resource series of a ``/metrics/resource`` answer (unknown series ignored)."""
    node_cpu: float | None = None
    node_mem: int | None = None
    node_ts = now_ms
    cpu: dict[ContainerKey, tuple[float, int]] = {}
    mem: dict[ContainerKey, int] = {}
    started: dict[ContainerKey, int] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition("{") if "{" in line else (line.split(" ")[0], "", "")
        labels: dict[str, str] = {}
        if rest:
            label_text, _, values = rest.partition("} ")
            labels = _labels(label_text)
        else:
            values = line[len(name):].strip()
        fields = values.split()
        if not fields:
            continue
        try:
            value = float(fields[0])
            ts = int(fields[1]) if len(fields) > 1 else now_ms
        except ValueError:
            continue
        key = (labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", ""))
        if name == "node_cpu_usage_seconds_total":
            node_cpu, node_ts = value, ts
        elif name == "node_memory_working_set_bytes":
            node_mem = int(value)
        elif name == "container_cpu_usage_seconds_total":
            cpu[key] = (value, ts)
        elif name == "container_memory_working_set_bytes":
            mem[key] = int(value)
        elif name == "container_start_time_seconds":
            started[key] = round(value * 1000)  # its timestamp is the start itself: unused
    node = Sample(node_cpu, node_mem or 0, node_ts) if node_cpu is not None else None
    containers = {k: Sample(c, mem.get(k, 0), ts, started.get(k, 0))
                  for k, (c, ts) in cpu.items()}
    return Scrape(node, containers)


def _rate(old: Sample | None, new: Sample) -> tuple[int, float] | None:
    """(nanocores, window seconds) from two samples of one run; None without a usable one."""
    if (old is None or new.timestamp_ms <= old.timestamp_ms or new.cpu_seconds < old.cpu_seconds
            or new.started_ms != old.started_ms):
        return None
    window = (new.timestamp_ms - old.timestamp_ms) / 1000
    return int((new.cpu_seconds - old.cpu_seconds) / window * 1e9), window


def _rate_since_start(new: Sample, resolution: float) -> tuple[int, float] | None:
    """(nanocores, window seconds) from a fresh container's start (zero CPU then) to ``new``."""
    window = (new.timestamp_ms - new.started_ms) / 1000
    if not new.started_ms or not FRESH_MIN_WINDOW <= window < 2 * resolution:
        return None
    return int(new.cpu_seconds / window * 1e9), window


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _usage(nanocores: int, memory: int) -> JsonObj:
    return {"cpu": f"{nanocores}n", "memory": f"{memory // 1024}Ki"}


@dataclass
class UsageStore:
    """Two scrapes per node (older, newer); replaced on every successful scrape.
    ``resolution`` is the seconds between scrapes (it bounds which containers are fresh)."""

    resolution: float = 10.0
    scrapes: dict[str, tuple[Scrape | None, Scrape]] = field(default_factory=dict)

    def record(self, node: str, scrape: Scrape) -> None:
        previous = self.scrapes.get(node)
        self.scrapes[node] = (previous[1] if previous else None, scrape)

    def forget_except(self, nodes: set[str]) -> None:
        for name in set(self.scrapes) - nodes:
            del self.scrapes[name]

    def node_metrics(self) -> list[JsonObj]:
        out = []
        for name, (old, new) in sorted(self.scrapes.items()):
            if new.node is None:
                continue
            rate = _rate(old.node if old else None, new.node)
            if rate is None:
                continue
            out.append({"kind": "NodeMetrics", "apiVersion": GROUP_VERSION,
                        "metadata": {"name": name, "creationTimestamp": _time(
                            new.node.timestamp_ms)},
                        "timestamp": _time(new.node.timestamp_ms), "window": f"{rate[1]:g}s",
                        "usage": _usage(rate[0], new.node.memory_bytes)})
        return out

    def pod_metrics(self) -> list[JsonObj]:
        pods: dict[tuple[str, str], list[tuple[str, int, int, Sample, float]]] = {}
        incomplete: set[tuple[str, str]] = set()
        for old, new in self.scrapes.values():
            for (ns, pod, container), sample in new.containers.items():
                before = old.containers.get((ns, pod, container)) if old else None
                rate = _rate(before, sample) or _rate_since_start(sample, self.resolution)
                if rate is None:
                    incomplete.add((ns, pod))
                    continue
                pods.setdefault((ns, pod), []).append(
                    (container, rate[0], sample.memory_bytes, sample, rate[1]))
        out = []
        for (ns, pod), containers in sorted(pods.items()):
            if (ns, pod) in incomplete:
                continue
            newest = max(c[3].timestamp_ms for c in containers)
            out.append({"kind": "PodMetrics", "apiVersion": GROUP_VERSION,
                        "metadata": {"name": pod, "namespace": ns,
                                     "creationTimestamp": _time(newest)},
                        "timestamp": _time(newest), "window": f"{containers[0][4]:g}s",
                        "containers": [{"name": c[0], "usage": _usage(c[1], c[2])}
                                       for c in sorted(containers, key=lambda c: c[0])]})
        return out
