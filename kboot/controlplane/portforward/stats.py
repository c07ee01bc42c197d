"""Port-forward counters, rendered in Prometheus text by the kubelet's and the apiserver's
``/metrics`` (names follow the ``<component>_portforward_…`` pattern; upstream has none)."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field


@dataclass
class Stats:
    sessions: collections.Counter[str] = field(default_factory=collections.Counter)
    active: collections.Counter[str] = field(default_factory=collections.Counter)
    streams: int = 0  # forwarded connections (a data+error stream pair, or a port of a WS)
    stream_errors: int = 0  # connections that ended with a message on the error stream

    def started(self, protocol: str) -> None:
        self.sessions[protocol] += 1
        self.active[protocol] += 1

    def ended(self, protocol: str) -> None:
        self.active[protocol] -= 1

    def render(self, prefix: str) -> str:
        lines = [f"# HELP {prefix}_portforward_sessions_total Port-forward sessions by protocol.",
                 f"# TYPE {prefix}_portforward_sessions_total counter"]
        lines += [f'{prefix}_portforward_sessions_total{{protocol="{p}"}} {n}'
                  for p, n in sorted(self.sessions.items())]
        lines += [f"# HELP {prefix}_portforward_sessions Open port-forward sessions.",
                  f"# TYPE {prefix}_portforward_sessions gauge"]
        lines += [f'{prefix}_portforward_sessions{{protocol="{p}"}} {n}'
                  for p, n in sorted(self.active.items())]
        if prefix == "kubelet":
            lines += ["# HELP kubelet_portforward_streams_total Connections forwarded into pods.",
                      "# TYPE kubelet_portforward_streams_total counter",
                      f"kubelet_portforward_streams_total {self.streams}",
                      "# HELP kubelet_portforward_stream_errors_total Forwarded connections "
                      "that failed (refused port, pod gone).",
                      "# TYPE kubelet_portforward_stream_errors_total counter",
                      f"kubelet_portforward_stream_errors_total {self.stream_errors}"]
        return "\n".join(lines) + "\n"
