"""Prometheus text metrics: request counts and latency histograms, and open watches.

Names follow kube-apiserver's (``apiserver_request_total``,
``apiserver_request_duration_seconds``, ``apiserver_registered_watchers``) so dashboards built
for upstream read these too. ``apiserver_watch_cache_lag_seconds`` is kboot's own: from this
apiserver's store write returning to its watch cache applying that revision (how far the cache
trails the store, issue 22). In-process counters only; ``/metrics`` renders them.
"""

from __future__ import annotations

import bisect
import collections
from dataclasses import dataclass, field

from kboot.controlplane.portforward.stats import Stats

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds
        self.n += 1

    def render(self, name: str, labels: str) -> list[str]:
        """Prometheus text lines (``_bucket``, ``_sum``, ``_count``) with ``labels``."""
        lines, running, sep = [], 0, "," if labels else ""
        for bound, count in zip((*BUCKETS, float("inf")), self.counts, strict=True):
            running += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {running}')
        suffix = f"{{{labels}}}" if labels else ""
        return [*lines, f"{name}_sum{suffix} {self.total:.6f}", f"{name}_count{suffix} {self.n}"]


Labels = tuple[str, str, str, str]  # verb, group, resource, code


class Metrics:
    def __init__(self) -> None:
        self.requests: collections.Counter[Labels] = collections.Counter()
        self.latency: dict[tuple[str, str, str], Histogram] = {}
        self.watchers: collections.Counter[tuple[str, str]] = collections.Counter()
        self.portforward = Stats()  # sessions by protocol (pods/portforward)
        self.cache_lag = Histogram()  # observed by the watch caches

    def observe(self, *, verb: str, group: str, resource: str, code: int,
                seconds: float) -> None:
        self.requests[(verb, group, resource, str(code))] += 1
        if verb != "WATCH":
            self.latency.setdefault((verb, group, resource), Histogram()).observe(seconds)

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
            lines += hist.render("apiserver_request_duration_seconds",
                                 f'group="{group}",resource="{resource}",verb="{verb}"')
        lines += ["# HELP apiserver_watch_cache_lag_seconds From a write of this apiserver "
                  "returning to its watch cache applying it.",
                  "# TYPE apiserver_watch_cache_lag_seconds histogram",
                  *self.cache_lag.render("apiserver_watch_cache_lag_seconds", "")]
        lines += ["# HELP apiserver_registered_watchers Number of currently open watches.",
                  "# TYPE apiserver_registered_watchers gauge"]
        for (group, resource), n in sorted(self.watchers.items()):
            lines.append(f'apiserver_registered_watchers{{group="{group}",'
                         f'resource="{resource}"}} {n}')
        return "\n".join(lines) + "\n" + self.portforward.render("apiserver")
