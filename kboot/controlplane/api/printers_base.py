"""The pieces printers are made of: column definitions, time parsing and kubectl's age format.

A :class:`Printer` is the per-kind half of upstream's table printers: its ``columns`` (wide-only
columns with ``priority`` 1) and a ``cells`` function returning one row's cells in column order,
without the name cell when the first column is Name (the table adds it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Obj = Mapping[str, Any]
Column = dict[str, Any]
NONE = "<none>"


def column(name: str, type_: str = "string", description: str = "", *,
           priority: int = 0) -> Column:
    out: Column = {"name": name, "type": type_, "format": "", "description": description,
                   "priority": priority}
    if name == "Name" and type_ == "string":
        out["format"] = "name"
        out["description"] = description or (
            "Name must be unique within a namespace. Is required when creating resources, "
            "although some resources may allow a client to request the generation of an "
            "appropriate name automatically. Name is primarily intended for creation "
            "idempotence and configuration definition. Cannot be updated.")
    return out


NAME = column("Name")
AGE = column("Age", description="CreationTimestamp is a timestamp representing the server time "
                                "when this object was created.")


@dataclass(frozen=True)
class Printer:
    columns: tuple[Column, ...]
    cells: Callable[[Obj, datetime], list[Any]]
    # the cells include the name cell (StorageClass prints "local-path (default)")
    names_itself: bool = False

    @property
    def name_first(self) -> bool:
        return (bool(self.columns) and self.columns[0].get("name") == "Name"
                and not self.names_itself)


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (``Z`` or offset; fractions allowed), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """kubectl's ``duration.HumanDuration``: ``45s``, ``5m3s``, ``3h2m``, ``693d``, ``2y5d``."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years, days = hours // 24 // 365, (hours // 24) % 365
    if hours < 24 * 365 * 8:
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{years}y"


def since(timestamp: Any, now: datetime) -> str:
    """Age of a timestamp relative to ``now``; ``<unknown>`` when unset."""
    when = parse_time(timestamp)
    return "<unknown>" if when is None else human_duration((now - when).total_seconds())


def age(obj: Obj, now: datetime) -> str:
    return since(meta(obj).get("creationTimestamp"), now)


def meta(obj: Obj) -> Mapping[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, Mapping) else {}


def sub(obj: Any, *path: str) -> Any:
    """``obj[p0][p1]…`` or None when any step is missing."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def maps(value: Any) -> list[Mapping[str, Any]]:
    """The mapping items of a list (anything else yields none)."""
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def strings(value: Any) -> list[str]:
    """The items of a list of scalars, as text."""
    return [str(v) for v in value if v is not None] if isinstance(value, list) else []


def join_or_none(values: list[str], sep: str = ",") -> str:
    return sep.join(values) if values else NONE


def selector_text(selector: Any) -> str:
    """A LabelSelector (or a plain map for Services) as ``a=b,c in (d)``; ``<none>`` if empty."""
    if not isinstance(selector, Mapping) or not selector:
        return NONE
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    labels = selector.get("matchLabels")
    parts = [f"{k}={v}" for k, v in sorted(labels.items())] if isinstance(labels, Mapping) else []
    for expr in maps(selector.get("matchExpressions")):
        op, key = expr.get("operator"), expr.get("key")
        values = ",".join(str(v) for v in expr.get("values") or ())
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                      "Exists": f"{key}", "DoesNotExist": f"!{key}"}.get(str(op), f"{key}?"))
    return ",".join(parts) or NONE


def containers_and_images(template_spec: Any) -> list[str]:
    """The wide CONTAINERS and IMAGES cells of a workload."""
    containers = maps(sub(template_spec, "containers"))
    return [",".join(str(c.get("name", "")) for c in containers),
            ",".join(str(c.get("image", "")) for c in containers)]
