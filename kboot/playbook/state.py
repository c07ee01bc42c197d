"""The mutable state of one run: options, and per host its transport, fact cache, registered
variables, counters and failures. Each host's state is touched only by the thread running that
host (other hosts read it through ``hostvars``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kboot.inventory.model import Host, Inventory
from kboot.playbook.events import Event, EventCallback, EventClock, Failure, HostResult
from kboot.playbook.factcache import FactCache
from kboot.playbook.variables import HostVars, fact_vars, groups_var, layered, resolve
from kboot.tasks.base import SourceFiles
from kboot.transport.base import Transport

TransportFactory = Callable[[Host], Transport]


@dataclass(frozen=True)
class RunOptions:
    check: bool = False
    diff: bool = False
    tags: frozenset[str] = frozenset()
    skip_tags: frozenset[str] = frozenset()
    extra_vars: Mapping[str, Any] = field(default_factory=dict)
    search_paths: tuple[Path, ...] = ()
    forks: int = 10


@dataclass
class HostState:
    host: Host
    facts: FactCache = field(default_factory=FactCache)
    setup: dict[str, Any] = field(default_factory=dict)  # gather_facts result (ansible_facts)
    runtime: dict[str, Any] = field(default_factory=dict)  # register / set_fact
    transport: Transport | None = None
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    execs: int = 0
    failed: bool = False
    unreachable: bool = False
    notified: list[str] = field(default_factory=list)
    version: int = 0  # bumped whenever runtime variables or gathered facts change

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def alive(self) -> bool:
        return not self.failed and not self.unreachable

    def count(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1

    def rescue(self) -> Failure:
        """A ``rescue`` section takes over the last failure: the host goes on."""
        failure = self.failures.pop()
        self.counts["failed"] = self.counts.get("failed", 1) - 1
        self.count("rescued")
        self.failed = False
        return failure

    def result(self) -> HostResult:
        c = self.counts
        return HostResult(
            host=self.name, ok=c.get("ok", 0) + c.get("changed", 0), changed=c.get("changed", 0),
            failed=c.get("failed", 0), skipped=c.get("skipped", 0),
            unreachable=c.get("unreachable", 0), ignored=c.get("ignored", 0),
            rescued=c.get("rescued", 0),
            failures=tuple(self.failures), execs=self.execs)


def base_vars(host: Host) -> dict[str, Any]:
    """A host's inventory variables, plus ``ansible_host``/``ansible_port``/``ansible_user``
    from its connection unless the inventory set them (templates of Ansible roles use them)."""
    connection = host.connection
    return {"ansible_host": connection.address, "ansible_port": connection.port,
            "ansible_user": connection.user, **host.vars}


class RunState:
    """Shared by the host threads of one run."""

    def __init__(self, inventory: Inventory, options: RunOptions, factory: TransportFactory,
                 on_event: EventCallback | None) -> None:
        self.inventory = inventory
        self.options = options
        self.factory = factory
        self.hosts = {name: HostState(host) for name, host in inventory.hosts.items()}
        self.abort = threading.Event()
        self.groups = groups_var(inventory)
        self.hostvars = HostVars(list(inventory.hosts), self.vars_of)
        self.sources = SourceFiles()  # big workstation files hashed once for all hosts
        self._on_event = on_event
        self._clock = EventClock()
        self._hostvars_cache: dict[str, tuple[int, dict[str, Any]]] = {}
        self._event_lock = threading.Lock()

    def emit(self, event: Event) -> None:
        if self._on_event is not None:
            with self._event_lock:
                self._on_event(self._clock.stamp(event))

    def vars_of(self, name: str) -> Mapping[str, Any]:
        """Another host's variables as ``hostvars[name]`` shows them; cached until that host
        registers or gathers something (templates often loop over every host's variables)."""
        state = self.hosts[name]
        cached = self._hostvars_cache.get(name)
        if cached is not None and cached[0] == state.version:
            return cached[1]
        version = state.version
        merged = layered(base_vars(state.host), fact_vars(state.setup) if state.setup else {},
                         dict(state.runtime), self.options.extra_vars)
        merged["inventory_hostname"] = name
        resolved = resolve(merged)
        self._hostvars_cache[name] = (version, resolved)
        return resolved

    def transport(self, state: HostState) -> Transport:
        if state.transport is None:
            state.transport = self.factory(state.host)  # ConnectError: the host is unreachable
        return state.transport

    def close(self) -> None:
        for state in self.hosts.values():
            if state.transport is not None:
                state.transport.close()
