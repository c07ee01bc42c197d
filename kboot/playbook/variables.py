"""Variables of one host during a run, with Ansible's precedence (low → high):

inventory vars (all < group < host, resolved by the inventory) < gathered facts injected as
``ansible_*`` < play ``vars`` < ``vars_files`` < registered results and ``set_fact`` <
extra vars (``-e``); then the magic variables (``inventory_hostname``, ``groups``,
``hostvars``, ``ansible_facts``, ``ansible_check_mode`` …), which cannot be overridden.

Variable *definitions* may be templates referring to other variables; they are resolved in
dependency order each time the scope changes. Resolved values are never rendered again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from kboot.errors import TemplateError
from kboot.inventory.model import Inventory
from kboot.templating import referenced_names, render_value

OMIT = "__kboot_omit_place_holder__"


class HostVars(Mapping[str, Mapping[str, Any]]):
    """``hostvars``: every host's current variables, looked up lazily when a template reads them."""

    def __init__(self, names: Sequence[str], lookup: Callable[[str], Mapping[str, Any]]) -> None:
        self._names = list(names)
        self._lookup = lookup

    def __getitem__(self, host: str) -> Mapping[str, Any]:
        if host not in self._names:
            raise KeyError(host)
        return self._lookup(host)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def groups_var(inventory: Inventory) -> dict[str, list[str]]:
    groups = {name: inventory.group_members(name) for name in inventory.groups}
    grouped = {h for members in groups.values() for h in members}
    groups["all"] = list(inventory.hosts)
    groups.setdefault("ungrouped", [h for h in inventory.hosts if h not in grouped])
    return groups


def _has_template(value: Any) -> bool:
    return bool(referenced_names(value)) or (isinstance(value, str) and "{{" in value)


def resolve(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Render templated definitions in dependency order; ones that cannot be rendered (they
    refer to something undefined, or form a cycle) are left out, so using them is an error."""
    scope = dict(raw)
    pending = {k: referenced_names(v) for k, v in raw.items() if _has_template(v)}
    for key in pending:
        del scope[key]
    while pending:
        ready = [k for k, refs in pending.items() if not (refs - {k}) & pending.keys()]
        if not ready:
            ready = list(pending)  # a cycle: let rendering report what it can
        for key in ready:
            value = raw[key]
            del pending[key]
            try:
                scope[key] = render_value(value, scope)
            except TemplateError:
                continue
    return scope


def layered(*layers: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    return merged


def fact_vars(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Gathered facts as Ansible injects them: ``ansible_facts`` and ``ansible_<name>``."""
    injected: dict[str, Any] = {f"ansible_{k}": v for k, v in facts.items()}
    injected["ansible_facts"] = dict(facts)
    return injected
