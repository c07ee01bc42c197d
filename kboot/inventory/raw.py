"""The readers' common output: what a file said, with lines, before groups and variables are
resolved. Both the kboot and the Ansible readers produce a :class:`RawInventory`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kboot.inventory.problems import Where

Format = Literal["kboot", "ansible-yaml", "ansible-ini"]


@dataclass
class RawHost:
    name: str
    line: Where
    settings: dict[str, Any] = field(default_factory=dict)  # checked Connection fields
    lines: dict[str, Where] = field(default_factory=dict)  # setting/var -> line
    vars: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[str, ...] = ()


@dataclass
class RawGroup:
    name: str
    line: Where
    hosts: list[tuple[str, Where]] = field(default_factory=list)
    children: list[tuple[str, Where]] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, Where] = field(default_factory=dict)  # var -> line

    def add_host(self, name: str, line: Where) -> None:
        if name not in [h for h, _ in self.hosts]:
            self.hosts.append((name, line))

    def add_child(self, name: str, line: Where) -> None:
        if name not in [c for c, _ in self.children]:
            self.children.append((name, line))


@dataclass
class RawInventory:
    source: str
    format: Format
    hosts: dict[str, RawHost] = field(default_factory=dict)
    groups: dict[str, RawGroup] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    var_lines: dict[str, Where] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)  # connection defaults
    default_lines: dict[str, Where] = field(default_factory=dict)
    cluster: dict[str, Any] = field(default_factory=dict)
