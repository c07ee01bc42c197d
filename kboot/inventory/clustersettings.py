"""The nested ``cluster:`` settings that need more than one checker: ``certs``, ``hooks`` and
``upgrade``.

Both are checked item by item so that each mistake is reported at its own line (a hook list can
be long; "cluster.hooks: bad" would not say which entry). The normalised values are plain dicts
the cluster layer reads without re-checking::

    certs: {renew_before_days: float, leaf_days: int}
    hooks: {event: [{name, run, hosts, become, timeout}, ...]}
    upgrade: {drain: bool, drain_timeout: float}

(``hosts``, not ``on``: YAML 1.1 reads an unquoted ``on`` key as the boolean true.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kboot.inventory.problems import Problems, Where
from kboot.inventory.schema import Bad, boolean, plain, seconds, text
from kboot.inventory.yamlsrc import LList, LMap

#: When hooks run. ``upgrade`` is an ``up`` whose kboot differs from the one that last
#: converged the cluster; drain/uncordon wrap every node kboot drains or uncordons.
HOOK_EVENTS = tuple(f"{when}_{what}" for what in ("up", "upgrade", "backup", "reset", "drain",
                                                  "uncordon", "certs_renew", "rotate_ca")
                    for when in ("before", "after"))
HOOK_KEYS = ("run", "hosts", "name", "become", "timeout")
WORKSTATION = "workstation"
DEFAULT_HOOK_TIMEOUT = 600.0


def _days(value: Any, *, minimum: float) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        number = -1.0
    if number >= minimum:
        return number
    raise Bad(f"expected a number of days >= {minimum:g}, got {type(value).__name__} {value!r}")


Parser = Callable[[Any], Any]
#: each key of the flat sections: how its value is checked and normalised (raises Bad)
CERT_PARSERS: Mapping[str, Parser] = {
    "renew_before_days": lambda value: _days(value, minimum=0),
    "leaf_days": lambda value: int(_days(value, minimum=1)),
}
#: ``drain``: whether ``kboot up`` drains a worker before restarting its kubelet;
#: ``drain_timeout``: seconds a drain may take
UPGRADE_PARSERS: Mapping[str, Parser] = {
    "drain": lambda value: boolean(plain(value)),
    "drain_timeout": lambda value: seconds(plain(value)),
}


def _check_flat(section: str, parsers: Mapping[str, Parser], body: Any, line: Where,
                problems: Problems) -> dict[str, Any]:
    """A section of plain keys, each checked by its parser, every mistake at its own line."""
    keys = tuple(parsers)
    if not isinstance(body, LMap):
        problems.add(line, section, f"expected a mapping with {', '.join(keys)}, "
                     f"got {type(body).__name__} {body!r}")
        return {}
    out: dict[str, Any] = {}
    for key, value in body.items():
        where, field = body.line_of(key), f"{section}.{key}"
        if key not in parsers:
            problems.unknown_key(where, field, key, keys)
            continue
        try:
            out[key] = parsers[key](value)
        except Bad as exc:
            problems.add(where, field, str(exc))
    return out


def check_certs(body: Any, line: Where, problems: Problems) -> dict[str, Any]:
    return _check_flat("cluster.certs", CERT_PARSERS, body, line, problems)


def check_upgrade(body: Any, line: Where, problems: Problems) -> dict[str, Any]:
    return _check_flat("cluster.upgrade", UPGRADE_PARSERS, body, line, problems)


def _hook(item: Any, where: Where, field: str, problems: Problems) -> dict[str, Any] | None:
    if isinstance(item, str) and item.strip():
        return {"name": item, "run": item, "hosts": WORKSTATION, "become": False,
                "timeout": DEFAULT_HOOK_TIMEOUT}
    if not isinstance(item, LMap):
        problems.add(where, field, "expected a command string or a mapping {run, hosts, name, "
                     f"become, timeout}}, got {type(item).__name__} {item!r}")
        return None
    ok = True
    for key in item:
        if key not in HOOK_KEYS:
            problems.unknown_key(item.line_of(key), f"{field}.{key}", key, HOOK_KEYS)
            ok = False
    checks = {"run": text, "hosts": text, "name": text, "become": boolean, "timeout": seconds}
    hook: dict[str, Any] = {"hosts": WORKSTATION, "become": False, "timeout": DEFAULT_HOOK_TIMEOUT}
    for key, check in checks.items():
        if key not in item:
            continue
        try:
            hook[key] = check(plain(item[key]))
        except Bad as exc:
            problems.add(item.line_of(key), f"{field}.{key}", str(exc))
            ok = False
    if "run" not in item:
        problems.add(item.line, field, "a hook needs 'run' (the command)")
        return None
    hook.setdefault("name", hook["run"])
    if hook["become"] and hook["hosts"] == WORKSTATION:
        problems.add(item.line_of("become"), f"{field}.become",
                     "become applies to hooks run on hosts ('hosts: PATTERN'), not on the "
                     "workstation")
        ok = False
    return hook if ok else None


def check_hooks(body: Any, line: Where, problems: Problems) -> dict[str, list[dict[str, Any]]]:
    if not isinstance(body, LMap):
        problems.add(line, "cluster.hooks", f"expected a mapping of events ({HOOK_EVENTS[0]}, "
                     f"...) to lists of hooks, got {type(body).__name__} {body!r}")
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for event, items in body.items():
        where, field = body.line_of(event), f"cluster.hooks.{event}"
        if event not in HOOK_EVENTS:
            problems.unknown_key(where, field, event, HOOK_EVENTS)
            continue
        if items is None:
            continue
        entries = list(zip(items, items.lines, strict=True)) if isinstance(items, LList) else [
            (items, where)]
        hooks = [_hook(item, item_line, f"{field}[{i}]", problems)
                 for i, (item, item_line) in enumerate(entries)]
        out[event] = [h for h in hooks if h is not None]
    return out


NESTED = {"certs": check_certs, "hooks": check_hooks, "upgrade": check_upgrade}
