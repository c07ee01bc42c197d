"""The JSONPath subset printer columns and scale paths use (client-go ``util/jsonpath``).

A path is ``.spec.replicas``, ``.spec['some.key']``, ``.spec.items[0]``, ``.spec.items[*].name``,
``.spec.items[-1]`` or ``.status.conditions[?(@.type=="Ready")].status`` (filters compare one
field with ``==`` or ``!=`` against a quoted string, a number or ``true``/``false``).
:func:`find` returns every match in document order (``[*]`` and filters fan out); missing
fields simply match nothing, as with kubectl's ``allowMissingKeys``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from kboot.controlplane.api.errors import ApiRuleError

_TOKEN = re.compile(r"""\.(?P<field>[A-Za-z0-9_$-]+)
                      |\[(?P<quoted>'[^']*'|"[^"]*")\]
                      |\[(?P<index>-?\d+|\*)\]
                      |\[\?\(@\.(?P<fpath>[A-Za-z0-9_.-]+)\s*(?P<op>==|!=)\s*(?P<lit>[^)]+)\)\]
                      |\.\*""", re.VERBOSE)


class JSONPathError(ApiRuleError):
    """A path outside the supported subset."""


@dataclass(frozen=True)
class Step:
    kind: str  # "field" | "index" | "all" | "filter"
    name: str = ""
    number: int = 0
    op: str = ""
    literal: Any = None


def parse(path: str) -> list[Step]:
    """The steps of ``path`` (a leading ``{``/``}`` pair and a lone ``.`` are accepted)."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if text in ("", "."):
        return []
    steps: list[Step] = []
    position = 0
    while position < len(text):
        found = _TOKEN.match(text, position)
        if not found:
            raise JSONPathError(f"unsupported JSONPath {path!r} at {text[position:]!r}")
        steps.append(_step(found))
        position = found.end()
    return steps


def _step(found: re.Match[str]) -> Step:
    if found["field"] is not None:
        return Step("field", name=found["field"])
    if found["quoted"] is not None:
        return Step("field", name=found["quoted"][1:-1])
    if found["index"] is not None:
        return Step("all") if found["index"] == "*" else Step("index", number=int(found["index"]))
    if found["fpath"] is not None:
        return Step("filter", name=found["fpath"], op=found["op"],
                    literal=_literal(found["lit"].strip()))
    return Step("all")


def _literal(text: str) -> Any:
    if text[:1] in ("'", '"') and text[-1:] == text[:1]:
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError as exc:
        raise JSONPathError(f"unsupported filter literal {text!r}") from exc


def find(obj: Any, path: str) -> list[Any]:
    """Every value ``path`` selects in ``obj``."""
    current = [obj]
    for step in parse(path):
        current = [v for value in current for v in _apply(step, value)]
    return current


def _apply(step: Step, value: Any) -> list[Any]:
    if step.kind == "field":
        return [value[step.name]] if isinstance(value, dict) and step.name in value else []
    if step.kind == "index":
        if isinstance(value, list) and -len(value) <= step.number < len(value):
            return [value[step.number]]
        return []
    if step.kind == "all":
        if isinstance(value, list):
            return list(value)
        return list(value.values()) if isinstance(value, dict) else []
    items = value if isinstance(value, list) else []
    out = []
    for item in items:
        found = find(item, "." + step.name)
        matched = bool(found) and found[0] == step.literal
        if matched == (step.op == "=="):
            out.append(item)
    return out


def set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set a field path (fields only, e.g. ``.spec.replicas``), creating objects on the way."""
    steps = parse(path)
    if not steps or any(s.kind != "field" for s in steps):
        raise JSONPathError(f"cannot set {path!r}: only field paths can be written")
    node = obj
    for step in steps[:-1]:
        nxt = node.get(step.name)
        if not isinstance(nxt, dict):
            nxt = {}
            node[step.name] = nxt
        node = nxt
    node[steps[-1].name] = value
