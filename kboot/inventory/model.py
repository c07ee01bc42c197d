"""The resolved inventory: hosts with their connection settings and variables, and groups.

This is the contract between the inventory loader (which builds it from kboot YAML or Ansible
YAML/INI files, validating with file:line errors) and everything that uses it (runner, lab,
cluster operations). Instances are immutable; ``with_host``/``without_host`` return new ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

HostKeyPolicy = Literal["strict", "accept-new"]


@dataclass(frozen=True)
class JumpHost:
    address: str
    port: int = 22
    user: str | None = None
    key_file: str | None = None


@dataclass(frozen=True)
class Connection:
    """How to reach one host. Secrets are never stored here in plain text: only the *name* of the
    environment variable holding a password, or ``password_prompt`` (asked once per run)."""

    address: str
    port: int = 22
    user: str = "root"
    key_file: str | None = None
    password_env: str | None = None
    password_prompt: bool = False
    become: bool = False
    become_password_env: str | None = None
    become_password_prompt: bool = False
    host_key_policy: HostKeyPolicy = "accept-new"
    known_hosts: str = "~/.kboot/known_hosts"
    ssh_config: str | None = None  # path of an OpenSSH client config to honour, if asked
    jump: tuple[JumpHost, ...] = ()
    connect_timeout: float = 10.0
    connect_retries: int = 3
    transport: Literal["ssh", "local"] = "ssh"


@dataclass(frozen=True)
class Host:
    name: str
    connection: Connection
    groups: tuple[str, ...] = ()  # every group the host belongs to, ancestors included
    vars: dict[str, Any] = field(default_factory=dict)  # fully resolved (precedence applied)
    labels: dict[str, str] = field(default_factory=dict)  # Kubernetes node labels to apply
    taints: tuple[str, ...] = ()  # Kubernetes node taints, "key=value:Effect"


@dataclass(frozen=True)
class Group:
    name: str
    hosts: tuple[str, ...] = ()  # direct members
    children: tuple[str, ...] = ()
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Inventory:
    source: str  # the file it was loaded from
    hosts: dict[str, Host]
    groups: dict[str, Group]
    vars: dict[str, Any] = field(default_factory=dict)  # "all" level
    cluster: dict[str, Any] = field(default_factory=dict)  # the ``cluster:`` section

    def with_host(self, host: Host, *, groups: Sequence[str] = ()) -> Inventory:
        """A copy with ``host`` added (or replaced) and made a direct member of ``groups``
        (created empty if missing). ``host.groups``/``host.vars`` are kept as given."""
        new_groups = dict(self.groups)
        for name in groups:
            group = new_groups.get(name, Group(name))
            if host.name not in group.hosts:
                group = replace(group, hosts=(*group.hosts, host.name))
            new_groups[name] = group
        return replace(self, hosts={**self.hosts, host.name: host}, groups=new_groups)

    def without_host(self, name: str) -> Inventory:
        """A copy without host ``name``, removed from every group too."""
        return replace(
            self,
            hosts={k: v for k, v in self.hosts.items() if k != name},
            groups={
                g: replace(group, hosts=tuple(h for h in group.hosts if h != name))
                for g, group in self.groups.items()
            },
        )

    def group_members(self, group: str) -> list[str]:
        """All hosts of ``group`` and its descendants, in inventory order."""
        seen: list[str] = []
        stack = [group]
        visited: set[str] = set()
        while stack:
            g = stack.pop(0)
            if g in visited or g not in self.groups:
                continue
            visited.add(g)
            for h in self.groups[g].hosts:
                if h not in seen:
                    seen.append(h)
            stack.extend(self.groups[g].children)
        order = list(self.hosts)
        return sorted(seen, key=order.index)
