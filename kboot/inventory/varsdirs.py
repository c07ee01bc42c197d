"""Ansible's ``group_vars/`` and ``host_vars/`` next to the inventory (kubespray keeps most of
its settings there). ``group_vars/<group>.yml`` (or ``.yaml``, ``.json``, no suffix) and
``group_vars/<group>/*.yml`` add to that group's variables, ``all`` meaning the top level;
``host_vars/<host>…`` likewise for hosts. As in Ansible, these files override the variables
written in the inventory file itself; files for unknown groups or hosts are ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kboot.errors import Location
from kboot.inventory.problems import Problems, Where
from kboot.inventory.raw import RawInventory
from kboot.inventory.schema import plain
from kboot.inventory.yamlsrc import LMap, load_yaml

SUFFIXES = (".yml", ".yaml", ".json", "")


def _files(entry: Path) -> list[Path]:
    if entry.is_dir():
        return sorted(p for p in entry.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
    return [entry] if entry.suffix in SUFFIXES else []


def _read(path: Path, problems: Problems) -> tuple[dict[str, Any], dict[str, Where]]:
    local = Problems(str(path))
    try:
        doc = load_yaml(path.read_text(encoding="utf-8"), local)
    except (OSError, UnicodeDecodeError) as exc:
        local.add(None, None, f"cannot read variables file: {exc}")
        doc = None
    problems.items.extend(local.items)
    if doc is None:
        return {}, {}
    if not isinstance(doc, LMap):
        problems.add(Location(str(path), 1), None, "expected a mapping of variables")
        return {}, {}
    return plain(doc), {k: Location(str(path), doc.line_of(k)) for k in doc}


def _targets(raw: RawInventory, kind: str, name: str
             ) -> tuple[dict[str, Any], dict[str, Where]] | None:
    if kind == "group_vars":
        if name == "all":
            return raw.vars, raw.var_lines
        group = raw.groups.get(name)
        return (group.vars, group.lines) if group is not None else None
    host = raw.hosts.get(name)
    return (host.vars, host.lines) if host is not None else None


def apply_vars_dirs(raw: RawInventory, inventory: Path, problems: Problems) -> None:
    for kind in ("group_vars", "host_vars"):
        base = inventory.parent / kind
        if not base.is_dir():
            continue
        for entry in sorted(base.iterdir()):
            name = entry.name if entry.is_dir() else entry.name.removesuffix(entry.suffix)
            target = _targets(raw, kind, name)
            if target is None:
                continue
            for path in _files(entry):
                values, lines = _read(path, problems)
                target[0].update(values)
                target[1].update(lines)
