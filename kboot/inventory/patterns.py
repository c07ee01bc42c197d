"""Host patterns with Ansible's semantics: ``all``/``*``, group and host names, globs
(``web*``), ``~regex``, unions with ``:`` or ``,``, intersections ``&group`` and exclusions
``!group``. As in Ansible, unions are applied first, then intersections, then exclusions, and a
pattern of exclusions only starts from ``all``. The result keeps inventory order."""

from __future__ import annotations

import fnmatch
import re

from kboot.errors import UserError
from kboot.inventory.model import Inventory

_GLOB_CHARS = set("*?[")


def split_pattern(pattern: str) -> list[str]:
    """``"web:&prod,!web3"`` → ``["web", "&prod", "!web3"]`` (``:`` and ``,`` separate)."""
    if pattern.startswith("~"):
        return [pattern]
    return [term.strip() for term in re.split(r"[:,]", pattern) if term.strip()]


def _term_hosts(inventory: Inventory, term: str) -> list[str]:
    if term in ("all", "*"):
        return list(inventory.hosts)
    if term in inventory.groups:
        return inventory.group_members(term)
    if term in inventory.hosts:
        return [term]
    if term.startswith("~"):
        rx = re.compile(term[1:])
        names = [h for h in inventory.hosts if rx.search(h)]
        groups = [g for g in inventory.groups if rx.search(g)]
    elif _GLOB_CHARS & set(term):
        names = [h for h in inventory.hosts if fnmatch.fnmatchcase(h, term)]
        groups = [g for g in inventory.groups if fnmatch.fnmatchcase(g, term)]
    else:
        return []
    found = set(names)
    for g in groups:
        found.update(inventory.group_members(g))
    return [h for h in inventory.hosts if h in found]


def select_hosts(inventory: Inventory, pattern: str, *, allow_empty: bool = True) -> list[str]:
    """Host names matching ``pattern``, in inventory order. With ``allow_empty=False`` a
    pattern matching nothing raises :class:`UserError` naming the terms that matched nothing."""
    terms = split_pattern(pattern)
    plain = [t for t in terms if not t.startswith(("&", "!"))]
    inter = [t[1:] for t in terms if t.startswith("&")]
    excl = [t[1:] for t in terms if t.startswith("!")]
    if not plain and (inter or excl):
        plain = ["all"]
    selected: set[str] = set()
    unmatched: list[str] = []
    for term in plain:
        found = _term_hosts(inventory, term)
        if not found:
            unmatched.append(term)
        selected.update(found)
    for term in inter:
        selected &= set(_term_hosts(inventory, term))
    for term in excl:
        selected -= set(_term_hosts(inventory, term))
    result = [h for h in inventory.hosts if h in selected]
    if not result and not allow_empty:
        detail = f"; no host or group matches {', '.join(map(repr, unmatched))}" if unmatched \
            else ""
        groups = ", ".join(inventory.groups) or "none"
        raise UserError(f"host pattern {pattern!r} matches no host{detail} "
                        f"(groups: {groups})", field="hosts")
    return result
