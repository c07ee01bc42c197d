"""``GET /metrics/resource``: the node's and its containers' CPU and memory, read from cgroups,
in upstream kubelet's Prometheus format (what metrics-server scrapes).

Series (upstream names, timestamps in milliseconds):
``node_cpu_usage_seconds_total`` and ``node_memory_working_set_bytes`` (from ``/proc/stat`` and
``/proc/meminfo``: the node is the whole machine, as the kubelet's root cgroup is), and per
running container ``container_cpu_usage_seconds_total`` and
``container_memory_working_set_bytes`` with labels ``container``, ``namespace``, ``pod``, read
from the container's cgroup ``<cgroup-root>/pod<uid>/<container-id>`` (cgroup v2: ``cpu.stat``
``usage_usec``, ``memory.current`` minus ``inactive_file``; v1: ``cpuacct.usage``,
``memory.usage_in_bytes`` minus ``total_inactive_file``). Working set is upstream's definition:
usage minus the inactive page cache the kernel can drop. A container whose cgroup cannot be
read (it just exited) is left out of the scrape.

Each such container also has ``container_start_time_seconds`` (when the runtime started it, the
CRI status's ``started_at``; the sample's timestamp is that start time, as upstream's kubelet
writes it). The metrics server uses it as the earlier point of a container it has seen only
once (zero CPU at start), so a new pod has metrics after one scrape rather than two.

Where the v1 ``cpuacct`` hierarchy has no per-container directory (seen in lab nodes: runc
created only the pod's there, while ``memory`` has the container's), the container's CPU time
is the sum of ``utime + stime + cutime + cstime`` of the processes in its ``memory`` cgroup
(``/proc/<pid>/stat``): exact for live processes and reaped children, and a counter that goes
backwards when a process exits — which the metrics server skips as a restart.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from kboot.controlplane.kubelet.cgroups import CGROUP_FS


@dataclass(frozen=True)
class ContainerId:
    namespace: str
    pod: str
    uid: str
    container: str
    id: str
    started_ns: int = 0  # CRI started_at (Unix nanoseconds); 0: unknown, no start-time series


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float  # cumulative core-seconds
    memory_bytes: int  # working set


def _stat_value(text: str, key: str) -> int | None:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return None


def _procs_cpu_seconds(procs_file: Path, proc: Path) -> float:
    """CPU seconds of the processes listed in a ``cgroup.procs`` file (and their reaped
    children)."""
    ticks = 0
    for pid in procs_file.read_text().split():
        try:
            stat = (proc / pid / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        fields = stat.rpartition(")")[2].split()
        ticks += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def cgroup_usage(cgroup: str, base: Path = CGROUP_FS, proc: Path = Path("/proc")
                 ) -> Usage | None:
    """Usage of one cgroup (path relative to the cgroup mount), v2 or v1; None if absent."""
    rel = cgroup.strip("/")
    try:
        if (base / "cgroup.controllers").exists():
            d = base / rel
            usec = _stat_value((d / "cpu.stat").read_text(), "usage_usec") or 0
            current = int((d / "memory.current").read_text())
            inactive = _stat_value((d / "memory.stat").read_text(), "inactive_file") or 0
            return Usage(usec / 1e6, max(current - inactive, 0))
        mem = base / "memory" / rel
        usage = int((mem / "memory.usage_in_bytes").read_text())
        inactive = _stat_value((mem / "memory.stat").read_text(), "total_inactive_file") or 0
        cpuacct = base / "cpuacct" / rel / "cpuacct.usage"
        seconds = (int(cpuacct.read_text()) / 1e9 if cpuacct.exists()
                   else _procs_cpu_seconds(mem / "cgroup.procs", proc))
        return Usage(seconds, max(usage - inactive, 0))
    except (OSError, ValueError):
        return None


def node_usage(proc: Path = Path("/proc")) -> Usage:
    """The machine's CPU time (all busy jiffies) and memory in use (total minus available)."""
    fields = (proc / "stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    busy = sum(values) - values[3] - (values[4] if len(values) > 4 else 0)  # minus idle, iowait
    meminfo = {line.split(":")[0]: int(line.split()[1]) * 1024
               for line in (proc / "meminfo").read_text().splitlines() if line.split()[1:]}
    used = meminfo.get("MemTotal", 0) - meminfo.get("MemAvailable", 0)
    return Usage(busy / os.sysconf("SC_CLK_TCK"), max(used, 0))


def _labels(c: ContainerId) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'container="{esc(c.container)}",namespace="{esc(c.namespace)}",pod="{esc(c.pod)}"'


def _go_float(value: float) -> str:
    """A float as Prometheus' Go exposition writes it (shortest digits, exponent from 1e6 on:
    ``1.6243962483020916e+09``)."""
    digits = repr(value)
    if "e" in digits or "inf" in digits or "nan" in digits or abs(value) < 1e6:
        return digits
    mantissa, _, exp = format(Decimal(digits).normalize(), "e").partition("e")
    return f"{mantissa}e{exp[0]}{int(exp[1:]):02d}"


def render(node: Usage, containers: Iterable[tuple[ContainerId, Usage]], now_ms: int) -> str:
    """The Prometheus text of one scrape."""
    items = list(containers)
    lines = [
        "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the "
        "container in core-seconds",
        "# TYPE container_cpu_usage_seconds_total counter",
        *(f"container_cpu_usage_seconds_total{{{_labels(c)}}} {u.cpu_seconds:.9f} {now_ms}"
          for c, u in items),
        "# HELP container_memory_working_set_bytes [STABLE] Current working set of the "
        "container in bytes",
        "# TYPE container_memory_working_set_bytes gauge",
        *(f"container_memory_working_set_bytes{{{_labels(c)}}} {u.memory_bytes} {now_ms}"
          for c, u in items),
        "# HELP container_start_time_seconds [STABLE] Start time of the container since unix "
        "epoch in seconds",
        "# TYPE container_start_time_seconds gauge",
        *(f"container_start_time_seconds{{{_labels(c)}}} {_go_float(c.started_ns / 1e9)} "
          f"{c.started_ns // 1_000_000}" for c, _ in items if c.started_ns > 0),
        "# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node "
        "in core-seconds",
        "# TYPE node_cpu_usage_seconds_total counter",
        f"node_cpu_usage_seconds_total {node.cpu_seconds:.9f} {now_ms}",
        "# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes",
        "# TYPE node_memory_working_set_bytes gauge",
        f"node_memory_working_set_bytes {node.memory_bytes} {now_ms}",
    ]
    return "\n".join(lines) + "\n"


def scrape(containers: Iterable[ContainerId], cgroup_root: str, now_ms: int, *,
           base: Path = CGROUP_FS, proc: Path = Path("/proc")) -> str:
    """Read every container's cgroup and the node's counters; render them."""
    usages = []
    for c in containers:
        usage = cgroup_usage(f"{cgroup_root.strip('/')}/pod{c.uid}/{c.id}", base, proc)
        if usage is not None:
            usages.append((c, usage))
    return render(node_usage(proc), usages, now_ms)
