"""``kboot logs --component``: a component's journal across the hosts that run it, interleaved.

Each round trip is a one-task playbook (``journalctl -o json`` of the component's unit) through
the engine, so connections, sudo and bastions work as for every other command. Following polls
each host about once a second with ``--after-cursor`` (``--since`` until the first entry is seen);
entries are parsed into :class:`LogLine` values and merged by time (:func:`interleave`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shlex
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kboot.cluster.exec import run_on_hosts
from kboot.cluster.topology import Node, Topology
from kboot.errors import UserError
from kboot.inventory import Inventory, select_hosts
from kboot.playbook.state import TransportFactory

log = logging.getLogger(__name__)

#: component -> (systemd unit, which nodes run it)
COMPONENTS: dict[str, tuple[str, Callable[[Node], bool]]] = {
    "apiserver": ("kboot-apiserver", lambda n: n.control_plane),
    "scheduler": ("kboot-scheduler", lambda n: n.control_plane),
    "controller-manager": ("kboot-controller-manager", lambda n: n.control_plane),
    "etcd": ("kboot-etcd", lambda n: n.etcd),
    "kubelet": ("kboot-kubelet", lambda n: True),
    "proxy": ("kboot-proxy", lambda n: True),
    "dns": ("kboot-dns", lambda n: True),
    "containerd": ("containerd", lambda n: True),
    "haproxy": ("haproxy", lambda n: True),
    "ingress": ("kboot-ingress", lambda n: n.ingress),
}
NOW_MARK = "KBOOT-NOW "
SEEN_LIMIT = 20_000


@dataclass(frozen=True, order=True)
class LogLine:
    time_us: int  # __REALTIME_TIMESTAMP, microseconds since the epoch
    host: str
    message: str
    cursor: str = field(default="", compare=False)


def component_hosts(topo: Topology, inventory: Inventory, component: str,
                    pattern: str | None) -> list[str]:
    """Hosts that run ``component``, narrowed by an inventory host pattern."""
    if component not in COMPONENTS:
        raise UserError(f"unknown component {component!r}; one of: {', '.join(COMPONENTS)}")
    runs = COMPONENTS[component][1]
    hosts = [n.name for n in topo.nodes if runs(n)]
    if pattern:
        allowed = set(select_hosts(inventory, pattern))
        hosts = [h for h in hosts if h in allowed]
    if not hosts:
        raise UserError(f"no host runs {component}" + (f" among {pattern!r}" if pattern else ""))
    return hosts


def _message(value: Any) -> str:
    if isinstance(value, list):  # journald sends non-UTF-8 messages as byte arrays
        return bytes(v & 0xFF for v in value if isinstance(v, int)).decode(errors="replace")
    return "" if value is None else str(value)


def parse_journal(host: str, text: str) -> tuple[list[LogLine], int | None]:
    """Entries of ``journalctl -o json`` output, and the host's clock if a NOW mark is there."""
    lines: list[LogLine] = []
    now: int | None = None
    for raw in text.splitlines():
        if raw.startswith(NOW_MARK):
            with contextlib.suppress(ValueError):
                now = int(raw[len(NOW_MARK):].strip())
            continue
        try:
            entry = json.loads(raw)
            when = int(entry["__REALTIME_TIMESTAMP"])
        except (ValueError, KeyError, TypeError):
            continue
        lines.append(LogLine(when, host, _message(entry.get("MESSAGE")),
                             str(entry.get("__CURSOR", ""))))
    return lines, now


def interleave(per_host: Iterable[Sequence[LogLine]]) -> list[LogLine]:
    """All hosts' lines in time order (stable for equal times: host name, then arrival)."""
    return sorted((line for lines in per_host for line in lines),
                  key=lambda line: (line.time_us, line.host))


@dataclass
class _Position:
    cursor: str = ""
    since_us: int | None = None


def journal_command(unit: str, *, tail: int | None, since: str | None,
                    position: _Position | None = None) -> str:
    parts = ["journalctl", "-u", f"{unit}.service", "--no-pager", "-o", "json",
             "--output-fields=MESSAGE"]
    if position and position.cursor:
        parts.append(f"--after-cursor={position.cursor}")
    elif position and position.since_us is not None:
        parts.append(f"--since=@{position.since_us // 1_000_000}")
    else:
        if since:
            parts.append(f"--since={since}")
        if tail is not None:
            parts += ["-n", str(tail)]
    # the host's clock first, so a follower knows where to resume when nothing was logged yet
    return f"echo {NOW_MARK}$(date +%s%6N); " + " ".join(shlex.quote(p) for p in parts)


@dataclass(frozen=True)
class LogQuery:
    component: str
    hosts: tuple[str, ...]
    tail: int | None = None
    since: str | None = None  # journalctl's --since (e.g. "-10m", "2024-01-01 10:00")


class ComponentLogs:
    """Fetches a component's journal from its hosts, once or repeatedly (follow)."""

    def __init__(self, inventory: Inventory, query: LogQuery, *,
                 transports_factory: TransportFactory | None = None, forks: int = 20) -> None:
        self.inventory, self.query = inventory, query
        self.unit = COMPONENTS[query.component][0]
        self._factory, self._forks = transports_factory, forks
        self._positions = {h: _Position() for h in query.hosts}
        self._seen: set[str] = set()
        self.unreachable: dict[str, str] = {}

    def _round(self, commands: dict[str, str]) -> dict[str, str]:
        outputs = {}
        results = run_on_hosts(self.inventory, commands, become=True,
                               transports_factory=self._factory, forks=self._forks)
        for host, out in results.items():
            if out.status == "unreachable" or (out.exit_code and not out.stdout):
                self.unreachable[host] = out.message or out.stderr.strip()
            else:
                outputs[host] = out.stdout
        return outputs

    def fetch(self) -> list[LogLine]:
        """New lines since the previous call (the first call: the tail), in time order."""
        first = not self._seen and all(not p.cursor and p.since_us is None
                                       for p in self._positions.values())
        commands = {h: journal_command(self.unit, tail=self.query.tail, since=self.query.since,
                                       position=None if first else self._positions[h])
                    for h in self.query.hosts if h not in self.unreachable}
        per_host = []
        for host, text in self._round(commands).items():
            lines, now = parse_journal(host, text)
            fresh = [ln for ln in lines if ln.cursor not in self._seen]
            if len(self._seen) > SEEN_LIMIT:  # only needed around the tail/--since seam
                self._seen.clear()
            self._seen.update(ln.cursor for ln in fresh)
            pos = self._positions[host]
            if lines:
                pos.cursor = lines[-1].cursor
            elif not pos.cursor and pos.since_us is None and now is not None:
                pos.since_us = now
            per_host.append(fresh)
        return interleave(per_host)

    def follow(self, *, interval: float = 1.0,
               stop: threading.Event | None = None) -> Iterator[list[LogLine]]:
        """Batches of new lines until ``stop`` is set (or forever; Ctrl-C ends it)."""
        stop = stop or threading.Event()
        while not stop.is_set():
            yield self.fetch()
            stop.wait(interval)
