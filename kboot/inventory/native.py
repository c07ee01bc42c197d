"""The kboot inventory format (see ``inventories/example.yaml`` and docs/inventory.md)::

    cluster: {...}        # cluster settings (known keys type-checked)
    connection: {...}     # defaults for every host (Connection fields but address)
    hosts: {name: {address, port, user, ..., vars, labels, taints}}
    groups: {name: {hosts: [...], children: [...], vars: {...}}}
    vars: {...}           # the "all" level
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kboot.inventory.clustersettings import NESTED
from kboot.inventory.problems import Problems, Where
from kboot.inventory.raw import RawGroup, RawHost, RawInventory
from kboot.inventory.schema import CLUSTER, CONNECTION, Bad, plain, taint, text
from kboot.inventory.yamlsrc import LList, LMap, line_of

TOP_KEYS = ("cluster", "connection", "hosts", "groups", "vars")
HOST_KEYS = ("address", *CONNECTION, "vars", "labels", "taints")
GROUP_KEYS = ("hosts", "children", "vars")


def _mapping(value: Any, problems: Problems, line: Where, field: str) -> LMap | None:
    if value is None:
        return None
    if isinstance(value, LMap):
        return value
    problems.add(line, field, f"expected a mapping, got {type(value).__name__} {value!r}")
    return None


def _names(value: Any, problems: Problems, line: Where, field: str,
           ) -> list[tuple[str, Where]]:
    """A list of names (or a mapping whose keys are names, as Ansible writes them)."""
    if value is None:
        return []
    if isinstance(value, LMap):
        return [(k, value.line_of(k)) for k in value]
    if not isinstance(value, LList):
        problems.add(line, field, f"expected a list of names, got {type(value).__name__} "
                     f"{value!r}")
        return []
    out: list[tuple[str, Where]] = []
    for item, item_line in zip(value, value.lines, strict=True):
        if isinstance(item, str | int) and not isinstance(item, bool):
            out.append((str(item), item_line))
        else:
            problems.add(item_line, field, f"expected a name, got {item!r}")
    return out


def check_settings(body: LMap, keys: tuple[str, ...], problems: Problems, prefix: str,
                   ) -> tuple[dict[str, Any], dict[str, Where]]:
    """Type-check the Connection fields present in ``body``; unknown keys are reported."""
    settings: dict[str, Any] = {}
    lines: dict[str, Where] = {}
    for key, value in body.items():
        line = body.line_of(key)
        if key not in keys:
            problems.unknown_key(line, f"{prefix}.{key}", key, keys)
            continue
        if key not in CONNECTION and key != "address":
            continue
        try:
            checker: Callable[[Any], Any] = CONNECTION.get(key, text)
            settings[key] = checker(plain(value))
            lines[key] = line
        except Bad as exc:
            problems.add(line, f"{prefix}.{key}", str(exc))
    return settings, lines


def _host(name: str, body: Any, line: Where, problems: Problems) -> RawHost:
    host = RawHost(name, line)
    mapping = _mapping(body, problems, line, f"hosts.{name}")
    if mapping is None:
        return host
    host.settings, host.lines = check_settings(mapping, HOST_KEYS, problems, f"hosts.{name}")
    host.vars = plain(_mapping(mapping.get("vars"), problems, mapping.line_of("vars"),
                               f"hosts.{name}.vars") or {})
    labels = _mapping(mapping.get("labels"), problems, mapping.line_of("labels"),
                      f"hosts.{name}.labels") or LMap(0)
    host.labels = {k: str(v) for k, v in labels.items()}
    taints = mapping.get("taints") or []
    if not isinstance(taints, list):
        taints = [taints]
    for item in taints:
        try:
            host.taints += (taint(plain(item)),)
        except Bad as exc:
            problems.add(line_of(item, mapping.line_of("taints")), f"hosts.{name}.taints",
                         str(exc))
    return host


def _group(name: str, body: Any, line: Where, problems: Problems) -> RawGroup:
    group = RawGroup(name, line)
    field = f"groups.{name}"
    if name == "all":
        problems.add(line, field, "'all' is implicit (every host); put its variables under "
                     "the top-level 'vars'")
    mapping = _mapping(body, problems, line, field)
    if mapping is None:
        return group
    for key in mapping:
        if key not in GROUP_KEYS:
            problems.unknown_key(mapping.line_of(key), f"{field}.{key}", key, GROUP_KEYS)
    for h, h_line in _names(mapping.get("hosts"), problems, mapping.line_of("hosts"),
                            f"{field}.hosts"):
        group.add_host(h, h_line)
    for c, c_line in _names(mapping.get("children"), problems, mapping.line_of("children"),
                            f"{field}.children"):
        group.add_child(c, c_line)
    group_vars = _mapping(mapping.get("vars"), problems, mapping.line_of("vars"),
                          f"{field}.vars") or LMap(0)
    group.vars = plain(group_vars)
    group.lines = dict(group_vars.lines)
    return group


def _cluster(body: LMap, problems: Problems) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in NESTED:
            out[key] = NESTED[key](value, body.line_of(key), problems)
            continue
        try:
            out[key] = CLUSTER[key](value) if key in CLUSTER else plain(value)
        except Bad as exc:
            problems.add(body.line_of(key), f"cluster.{key}", str(exc))
    return out


def parse_native(doc: LMap, source: str, problems: Problems) -> RawInventory:
    raw = RawInventory(source, "kboot")
    for key in doc:
        if key not in TOP_KEYS:
            problems.unknown_key(doc.line_of(key), key, key, TOP_KEYS)
    cluster = _mapping(doc.get("cluster"), problems, doc.line_of("cluster"), "cluster")
    raw.cluster = _cluster(cluster, problems) if cluster is not None else {}
    conn = _mapping(doc.get("connection"), problems, doc.line_of("connection"), "connection")
    if conn is not None:
        raw.defaults, raw.default_lines = check_settings(
            conn, tuple(CONNECTION), problems, "connection")
    all_vars = _mapping(doc.get("vars"), problems, doc.line_of("vars"), "vars") or LMap(0)
    raw.vars, raw.var_lines = plain(all_vars), dict(all_vars.lines)
    hosts = _mapping(doc.get("hosts"), problems, doc.line_of("hosts"), "hosts") or LMap(0)
    for name, body in hosts.items():
        raw.hosts[name] = _host(name, body, hosts.line_of(name), problems)
    groups = _mapping(doc.get("groups"), problems, doc.line_of("groups"), "groups") or LMap(0)
    for name, body in groups.items():
        raw.groups[name] = _group(name, body, groups.line_of(name), problems)
        if name in raw.hosts:
            problems.add(groups.line_of(name), f"groups.{name}",
                         f"{name!r} is already a host name; groups and hosts need distinct names")
    return raw
