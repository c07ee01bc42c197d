"""From what a file said (:class:`RawInventory`) to the resolved :class:`Inventory`: group graph
checks (unknown members, cycles), variable precedence, connection settings, jump chains,
duplicate addresses and required groups.

Variable precedence, lowest first: ``all`` vars < group vars (shallower groups first, i.e.
parents before children; groups at the same depth alphabetically) < host vars.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kboot.inventory.ansible import connection_from_vars
from kboot.inventory.jumps import JumpResolver
from kboot.inventory.model import Connection, Group, Host, Inventory, JumpHost
from kboot.inventory.problems import Problems, Where, suggest
from kboot.inventory.raw import RawGroup, RawHost, RawInventory


def check_references(raw: RawInventory, problems: Problems) -> None:
    for group in raw.groups.values():
        for host, line in group.hosts:
            if host not in raw.hosts:
                problems.add(line, f"groups.{group.name}.hosts", f"unknown host {host!r}"
                             f"{suggest(host, raw.hosts)}; expected a host defined under hosts")
        for child, line in group.children:
            if child not in raw.groups:
                problems.add(line, f"groups.{group.name}.children", f"unknown group {child!r}"
                             f"{suggest(child, raw.groups)}; expected a defined group")


def find_cycles(raw: RawInventory, problems: Problems) -> set[str]:
    """Report each children cycle once; returns the groups on cycles."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    on_cycle: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for child, line in raw.groups[name].children:
            if child not in raw.groups:
                continue
            if state.get(child) == 1:
                cycle = [*path[path.index(child):], child]
                on_cycle.update(cycle)
                problems.add(line, f"groups.{name}.children", "cycle in group children: "
                             f"{' -> '.join(cycle)}; expected a tree (or DAG) of groups")
            elif child not in state:
                visit(child, [*path, child])
        state[name] = 2

    for name in raw.groups:
        if name not in state:
            visit(name, [name])
    return on_cycle


def group_depths(raw: RawInventory, cyclic: set[str]) -> dict[str, int]:
    """Depth below ``all`` (a top-level group is 1): the longest path from a root."""
    parents: dict[str, list[str]] = {g: [] for g in raw.groups}
    for g in raw.groups.values():
        for child, _ in g.children:
            if child in parents:
                parents[child].append(g.name)
    depths: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in depths:
            depths[name] = 1  # provisional, guards against cycles
            ps = [p for p in parents[name] if p not in cyclic or name not in cyclic]
            depths[name] = 1 + max((depth(p) for p in ps), default=0)
        return depths[name]

    for name in raw.groups:
        depth(name)
    return depths


def host_groups(raw: RawInventory) -> dict[str, list[str]]:
    """Every group each host belongs to, ancestors included."""
    result: dict[str, set[str]] = {h: set() for h in raw.hosts}
    members: dict[str, set[str]] = {}

    def all_members(name: str, seen: frozenset[str]) -> set[str]:
        if name in members:
            return members[name]
        group = raw.groups[name]
        found = {h for h, _ in group.hosts if h in raw.hosts}
        for child, _ in group.children:
            if child in raw.groups and child not in seen:
                found |= all_members(child, seen | {child})
        members[name] = found
        return found

    for name in raw.groups:
        for host in all_members(name, frozenset({name})):
            result[host].add(name)
    return {h: sorted(gs) for h, gs in result.items()}


def resolve_vars(raw: RawInventory, host: RawHost, groups: Sequence[str],
                 depths: dict[str, int]) -> tuple[dict[str, Any], dict[str, Where]]:
    merged: dict[str, Any] = dict(raw.vars)
    lines: dict[str, Where] = dict(raw.var_lines)
    for name in sorted(groups, key=lambda g: (depths.get(g, 1), g)):
        merged.update(raw.groups[name].vars)
        lines.update(raw.groups[name].lines)
    merged.update(host.vars)
    lines.update(host.lines)
    return merged, lines


def _settings(raw: RawInventory, host: RawHost, hostvars: dict[str, Any],
              lines: dict[str, Where], problems: Problems) -> dict[str, Any]:
    if raw.format == "kboot":
        settings = {**raw.defaults, **host.settings}
        settings.setdefault("address", host.name)
        host.lines = {**raw.default_lines, **host.lines}
        return settings
    settings = connection_from_vars(host.name, hostvars, lines, problems)
    host.lines.update({k: lines.get(k) for k in settings})
    return settings


def check_duplicate_addresses(inventory_hosts: dict[str, Host], raw: RawInventory,
                              problems: Problems) -> None:
    seen: dict[tuple[str, int, tuple[JumpHost, ...]], str] = {}
    for name, host in inventory_hosts.items():
        conn = host.connection
        if conn.transport == "local":
            continue
        key = (conn.address, conn.port, conn.jump)
        if key in seen:
            problems.add(raw.hosts[name].lines.get("address", raw.hosts[name].line),
                         f"hosts.{name}.address", f"{conn.address}:{conn.port} is also the "
                         f"address of host {seen[key]!r}; expected each host once")
        else:
            seen[key] = name


def check_required(raw: RawInventory, hosts_of: dict[str, list[str]],
                   require_groups: Sequence[str], problems: Problems) -> None:
    for name in require_groups:
        if name not in raw.groups:
            problems.add(None, f"groups.{name}", f"required group {name!r} is missing"
                         f"{suggest(name, raw.groups)}; expected at least one host in it")
        elif not any(name in gs for gs in hosts_of.values()):
            problems.add(raw.groups[name].line, f"groups.{name}", f"required group {name!r} "
                         "has no hosts; expected at least one")


def _connection(settings: dict[str, Any], jumps: tuple[JumpHost, ...]) -> Connection:
    fields = {k: v for k, v in settings.items() if k in Connection.__dataclass_fields__}
    fields["jump"] = jumps
    return Connection(**fields)


def resolve(raw: RawInventory, problems: Problems, require_groups: Sequence[str] = (),
            ) -> Inventory:
    check_references(raw, problems)
    cyclic = find_cycles(raw, problems)
    depths = group_depths(raw, cyclic)
    groups_of = host_groups(raw)
    resolved: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for name, rh in raw.hosts.items():
        hostvars, lines = resolve_vars(raw, rh, groups_of[name], depths)
        resolved[name] = (_settings(raw, rh, hostvars, lines, problems), hostvars)
    jumps = JumpResolver({n: s for n, (s, _) in resolved.items()}, problems)
    hosts: dict[str, Host] = {}
    for name, (settings, hostvars) in resolved.items():
        rh = raw.hosts[name]
        chain = jumps.chain(name, rh.lines.get("jump", rh.line))
        hosts[name] = Host(name=name, connection=_connection(settings, chain),
                           groups=tuple(groups_of[name]), vars=hostvars,
                           labels=dict(rh.labels), taints=rh.taints)
    check_duplicate_addresses(hosts, raw, problems)
    check_required(raw, groups_of, require_groups, problems)
    problems.raise_if_any()
    return Inventory(
        source=raw.source,
        hosts=hosts,
        groups={g.name: _group(g) for g in raw.groups.values()},
        vars=dict(raw.vars),
        cluster=dict(raw.cluster),
    )


def _group(g: RawGroup) -> Group:
    return Group(name=g.name, hosts=tuple(h for h, _ in g.hosts),
                 children=tuple(c for c, _ in g.children), vars=dict(g.vars))
