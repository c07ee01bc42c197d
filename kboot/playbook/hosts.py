"""Choosing a play's hosts: the inventory's Ansible pattern matcher, plus ``--limit``.

``kboot.inventory.patterns.select_hosts`` implements the pattern semantics; until it is
available this module falls back to a small equivalent (names, groups, globs, ``:``/``,``
unions, ``&`` intersections, ``!`` exclusions).
"""

from __future__ import annotations

import fnmatch
import importlib
import re
from collections.abc import Callable
from typing import Any

from kboot.inventory.model import Inventory


def _fallback(inventory: Inventory, pattern: str) -> list[str]:
    order = list(inventory.hosts)
    union: set[str] = set()
    parts = [p.strip() for p in re.split(r"[:,]", pattern) if p.strip()]
    plain = [p for p in parts if p[0] not in "&!"]

    def match(term: str) -> set[str]:
        if term in ("all", "*"):
            return set(order)
        if term in inventory.groups:
            return set(inventory.group_members(term))
        if term in inventory.hosts:
            return {term}
        found = {h for h in order if fnmatch.fnmatch(h, term)}
        for group in inventory.groups:
            if fnmatch.fnmatch(group, term):
                found |= set(inventory.group_members(group))
        return found

    for term in plain:
        union |= match(term)
    for term in parts:
        if term.startswith("&"):
            union &= match(term[1:])
    for term in parts:
        if term.startswith("!"):
            union -= match(term[1:])
    return [h for h in order if h in union]


def _matcher() -> Callable[[Inventory, str], list[str]]:
    try:
        module: Any = importlib.import_module("kboot.inventory.patterns")
    except ImportError:
        return _fallback
    matcher: Callable[[Inventory, str], list[str]] = module.select_hosts
    return matcher


def play_hosts(inventory: Inventory, pattern: str, limit: str | None) -> list[str]:
    """Hosts a play runs on: its ``hosts`` pattern, intersected with ``--limit``."""
    select = _matcher()
    hosts = select(inventory, pattern)
    if limit:
        allowed = set(select(inventory, limit))
        hosts = [h for h in hosts if h in allowed]
    return hosts
