"""Running playbooks over FakeTransport in execute mode: the generated scripts really run on
this machine, against paths inside the test's temporary directory."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from kboot.inventory.model import Connection, Group, Host, Inventory
from kboot.playbook import Event, RunSummary, TaskResult, run_playbook
from kboot.transport.fake import FakeTransport


def make_inventory(n: int = 3, *, host_vars: dict[str, Any] | None = None) -> Inventory:
    names = [f"h{i}" for i in range(n)]
    hosts = {name: Host(name, Connection(address="127.0.0.1"), groups=("all", "nodes"),
                        vars=dict(host_vars or {})) for name in names}
    return Inventory("test", hosts, {"nodes": Group("nodes", tuple(names))})


class Harness:
    def __init__(self, tmp_path: Path, n: int = 3, *, unreachable: tuple[str, ...] = (),
                 host_vars: dict[str, Any] | None = None) -> None:
        self.tmp = tmp_path
        self.inventory = make_inventory(n, host_vars={"root": str(tmp_path), **(host_vars or {})})
        self.unreachable = unreachable
        self.transports: dict[str, FakeTransport] = {}
        self.events: list[Event] = []

    def factory(self, host: Host) -> FakeTransport:
        transport = FakeTransport(host.name, execute=True,
                                  unreachable=host.name in self.unreachable)
        self.transports[host.name] = transport
        return transport

    def write(self, text: str, name: str = "pb.yml") -> Path:
        path = self.tmp / name
        path.write_text(textwrap.dedent(text))
        return path

    def run(self, text: str, **kwargs: Any) -> RunSummary:
        self.events = []
        self.transports = {}
        return run_playbook(self.write(text), self.inventory, transports_factory=self.factory,
                            on_event=self.events.append, **kwargs)

    def results(self, host: str | None = None) -> list[TaskResult]:
        return [e for e in self.events if isinstance(e, TaskResult)
                and (host is None or e.host == host)]

    def statuses(self, host: str) -> list[tuple[str, str]]:
        return [(e.task, e.status) for e in self.results(host)]

    def execs(self, host: str) -> int:
        return len(self.transports[host].runs) if host in self.transports else 0
