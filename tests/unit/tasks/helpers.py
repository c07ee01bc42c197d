"""Tasks as data: bind YAML-like args, supply facts by key, get the plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kboot.facts.files import FileStat
from kboot.tasks.args import bind
from kboot.tasks.base import Plan, TaskContext
from kboot.tasks.registry import lookup

ABSENT = FileStat(exists=False)


def stat(ftype: str = "file", mode: int = 0o644, owner: str = "root", group: str = "root",
         sha256: str | None = None, target: str | None = None) -> FileStat:
    return FileStat(True, ftype, mode, owner, group, 1, sha256, target)


def plan(name: str, args: dict[str, Any], facts: dict[str, Any] | None = None, *,
         variables: dict[str, Any] | None = None, search: tuple[Path, ...] = (),
         diff: bool = False) -> Plan:
    """Plan task ``name``; fails if the task needs a fact the test did not give."""
    definition = lookup(name)
    assert definition is not None, name
    bound = bind(definition.args, args) if definition.args is not None else args
    ctx = TaskContext("h1", facts or {}, diff=diff, variables=variables or {},
                      search_paths=search)
    needed = {f.key for f in definition.needs(bound, ctx)}
    missing = needed - set(facts or {})
    assert not missing, f"test must provide facts {missing}"
    return definition.plan(bound, ctx)


def scripts(p: Plan) -> list[str]:
    return [c.script for c in p.commands]
