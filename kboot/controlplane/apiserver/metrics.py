"""Prometheus text metrics: request counts and latency histograms, and open watches.

Names follow kube-apiserver's (``apiserver_request_total``,
``apiserver_request_duration_seconds``, ``apiserver_registered_watchers``) so dashboards built
for upstream read these too. In-process counters only; ``/metrics`` renders them.
"""

from __future__ import annotations

import bisect
import collections
from dataclasses import dataclass, field

from kboot.controlplane.portforward.stats import Stats

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds
        self.n += 1


Labels = tuple[str, str, str, str]  # verb, group, resource, code


class Metrics:
    def __init__(self) -> None:
        self.requests: collections.Counter[Labels] = collections.Counter()
        self.latency: dict[tuple[str, str, str], _Histogram] = {}
        self.watchers: collections.Counter[tuple[str, str]] = collections.Counter()
        self.portforward = Stats()  # sessions by protocol (pods/portforward)

    def observe(self, *, verb: str, group: str, resource: str, code: int,
                seconds: float) -> None:
        self.requests[(verb, group, resource, str(code))] += 1
        if verb != "WATCH":
            self.latency.setdefault((verb, group, resource), _Histogram()).observe(seconds)

    def watch_started(self, group: str, resource: str) -> None:
        self.watchers[(group, resource)] += 1

    def watch_ended(self, group: str, resource: str) -> None:
        self.watchers[(group, resource)] -= 1

    def render(self) -> str:
        lines = ["# HELP apiserver_request_total Counter of apiserver requests by verb, group, "
                 "resource and HTTP code.", "# TYPE apiserver_request_total counter"]
        for (verb, group, resource, code), n in sorted(self.requests.items()):
            lines.append(f'apiserver_request_total{{code="{code}",group="{group}",'
                         f'resource="{resource}",verb="{verb}"}} {n}')
        lines += ["# HELP apiserver_request_duration_seconds Response latency distribution.",
                  "# TYPE apiserver_request_duration_seconds histogram"]
        for (verb, group, resource), hist in sorted(self.latency.items()):
            base = f'group="{group}",resource="{resource}",verb="{verb}"'
            running = 0
            for bound, count in zip((*BUCKETS, float("inf")), hist.counts, strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'apiserver_request_duration_seconds_bucket{{{base},le="{le}"}} '
                             f"{running}")
            lines.append(f"apiserver_request_duration_seconds_sum{{{base}}} {hist.total:.6f}")
            lines.append(f"apiserver_request_duration_seconds_count{{{base}}} {hist.n}")
        lines += ["# HELP apiserver_registered_watchers Number of currently open watches.",
                  "# TYPE apiserver_registered_watchers gauge"]
        for (group, resource), n in sorted(self.watchers.items()):
            lines.append(f'apiserver_registered_watchers{{group="{group}",'
                         f'resource="{resource}"}} {n}')
        return "\n".join(lines) + "\n" + self.portforward.render("apiserver")
