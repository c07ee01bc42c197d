"""Label and field selectors: parsing (query strings and ``LabelSelector`` objects) and matching.

Label selectors follow upstream ``labels.Parse``: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``,
``a notin (x,y)``, ``a``, ``!a``, ``a>1``, ``a<1``; commas AND the requirements; ``!=`` and
``notin`` also match objects without the label.  Field selectors support ``=``, ``==`` and
``!=`` over ``metadata.name``, ``metadata.namespace`` and each kind's whitelist in the registry;
anything else raises :class:`SelectorError` (the apiserver answers 400 BadRequest).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kboot.controlplane.api.errors import SelectorError
from kboot.controlplane.api.names import is_label_value, is_qualified_name
from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.api.schemas import KindRef, resolve_kind

__all__ = [
    "FieldSelector", "LabelSelector", "Requirement", "SelectorError", "field_equals",
    "field_value",
    "label_selector_from_dict", "parse_field_selector", "parse_label_selector",
    "selector_string", "supported_fields",
]

_LABEL_OPS = ("in", "notin", "=", "==", "!=", "exists", "!", "gt", "lt")


@dataclass(frozen=True)
class Requirement:
    """One label requirement: ``key``, an operator from ``_LABEL_OPS`` and its values."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op in ("=", "==", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if not present or value is None:
            return False
        try:
            number, bound = int(value), int(self.values[0])
        except ValueError:
            return False
        return number > bound if self.op == "gt" else number < bound

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return f"!{self.key}"
        if self.op in ("in", "notin"):
            return f"{self.key} {self.op} ({','.join(sorted(self.values))})"
        symbol = {"gt": ">", "lt": "<", "==": "=="}.get(self.op, self.op)
        return f"{self.key}{symbol}{self.values[0]}"


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements; ``everything`` matches all, ``nothing`` none."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        found = labels or {}
        return all(r.matches(found) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements and not self.nothing

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_TOKEN_RE = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=(),<>]+)")


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:  # pragma: no cover - the regex accepts every non-space character
            raise SelectorError(f"unable to parse requirement: {text[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _check_key(key: str) -> str:
    errs = is_qualified_name(key)
    if errs:
        raise SelectorError(f"invalid label key {key!r}: {'; '.join(errs)}")
    return key


def _check_value(value: str) -> str:
    errs = is_label_value(value)
    if errs:
        raise SelectorError(f"invalid label value: {value!r}: {'; '.join(errs)}")
    return value


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise SelectorError("unexpected end of selector")
        self.pos += 1
        return tok

    def requirement(self) -> Requirement:
        tok = self.take()
        if tok == "!":
            return Requirement(_check_key(self.take()), "!")
        key = _check_key(tok)
        op = self.peek()
        if op is None or op == ",":
            return Requirement(key, "exists")
        self.take()
        if op in ("in", "notin"):
            return Requirement(key, op, self.value_set())
        if op in ("=", "==", "!="):
            nxt = self.peek()
            value = "" if nxt is None or nxt == "," else self.take()
            return Requirement(key, op, (_check_value(value),))
        if op in (">", "<"):
            value = self.take()
            if not value.lstrip("-").isdigit():
                raise SelectorError(f"for '{op}' operator, the value must be an integer")
            return Requirement(key, "gt" if op == ">" else "lt", (value,))
        raise SelectorError(f"unexpected token {op!r} after key {key!r}")

    def value_set(self) -> tuple[str, ...]:
        if self.take() != "(":
            raise SelectorError("expected '(' after set operator")
        values: list[str] = []
        expect_value = True
        while True:
            tok = self.take()
            if tok == ")":
                if expect_value and values:
                    values.append("")
                break
            if tok == ",":
                if expect_value:
                    values.append("")
                expect_value = True
                continue
            if not expect_value:
                raise SelectorError(f"expected ',' or ')' before {tok!r}")
            values.append(_check_value(tok))
            expect_value = False
        if not values:
            raise SelectorError("for 'in', 'notin' operators, values set can't be empty")
        return tuple(values)


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a ``labelSelector`` query value; empty text selects everything."""
    if not text or not text.strip():
        return LabelSelector()
    parser = _Parser(text)
    reqs = [parser.requirement()]
    while parser.peek() is not None:
        if parser.take() != ",":
            raise SelectorError(f"expected ',' in selector {text!r}")
        reqs.append(parser.requirement())
    return LabelSelector(tuple(reqs))


_EXPR_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def label_selector_from_dict(d: Mapping[str, Any] | None) -> LabelSelector:
    """Convert a ``metav1.LabelSelector`` object; ``None`` selects nothing, ``{}`` everything."""
    if d is None:
        return LabelSelector(nothing=True)
    reqs = [Requirement(_check_key(k), "=", (_check_value(str(v)),))
            for k, v in sorted((d.get("matchLabels") or {}).items())]
    for expr in d.get("matchExpressions") or ():
        op = _EXPR_OPS.get(expr.get("operator", ""))
        if op is None:
            raise SelectorError(f"{expr.get('operator')!r} is not a valid selector operator")
        values = tuple(expr.get("values") or ())
        if op in ("in", "notin") and not values:
            raise SelectorError("values: must be non-empty for In and NotIn")
        if op in ("exists", "!") and values:
            raise SelectorError("values: must be empty for Exists and DoesNotExist")
        reqs.append(Requirement(_check_key(str(expr.get("key", ""))), op, values))
    return LabelSelector(tuple(reqs))


def selector_string(d: Mapping[str, Any] | None) -> str:
    """The query-string form of a ``LabelSelector`` object (``Scale.status.selector``)."""
    return str(label_selector_from_dict(d))


# ---------------------------------------------------------------------------- field selectors

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
_FIELD_ALIASES = {("Event", "source"): "source.component"}


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    op: str  # "=" or "!="
    value: str


def supported_fields(kind: KindRef) -> tuple[str, ...]:
    """Field labels a kind may be selected on."""
    return _COMMON_FIELDS + resolve_kind(kind).field_selectors


def field_value(kind: KindRef, obj: Mapping[str, Any], field: str) -> str:
    """The string value of a selectable field (booleans ``true``/``false``; missing ``""``)."""
    # by name, not resolve_kind: kinds registered at run time (custom resources) are not in
    # the built-in registry, and none of them has an alias
    name = kind.kind if isinstance(kind, ResourceKind) else kind.rpartition("/")[2]
    path = _FIELD_ALIASES.get((name, field), field)
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class FieldSelector:
    kind: str
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        for req in self.requirements:
            equal = field_value(self.kind, obj, req.field) == req.value
            if equal != (req.op == "="):
                return False
        return True

    def value_for(self, field: str) -> str | None:
        """The value an ``=`` requirement pins ``field`` to (for indexed lookups), if any."""
        for req in self.requirements:
            if req.field == field and req.op == "=":
                return req.value
        return None


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, i = [], "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            cur += text[i: i + 2]
            i += 2
            continue
        if text[i] == sep:
            parts.append(cur)
            cur = ""
        else:
            cur += text[i]
        i += 1
    parts.append(cur)
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _field_requirement(term: str) -> FieldRequirement:
    for symbol, op in (("!=", "!="), ("==", "="), ("=", "=")):
        idx = term.find(symbol)
        if idx > 0 and term[idx - 1] != "\\":
            return FieldRequirement(term[:idx].strip(), op, _unescape(term[idx + len(symbol):]))
    raise SelectorError(f"invalid field selector: {term!r}: expected an operator (=, ==, !=)")


def parse_field_selector(kind: KindRef, text: str | None) -> FieldSelector:
    """Parse a ``fieldSelector`` for ``kind``; unsupported fields raise :class:`SelectorError`
    with upstream's message ``field label not supported: <field>``."""
    rk = resolve_kind(kind)
    ref = f"{rk.api_version}/{rk.kind}"  # not the bare kind: Event is served by two groups
    if not text or not text.strip():
        return FieldSelector(ref)
    allowed = supported_fields(rk)
    reqs = []
    for term in _split_unescaped(text, ","):
        req = _field_requirement(term)
        if req.field not in allowed:
            raise SelectorError(f"field label not supported: {req.field}")
        reqs.append(req)
    return FieldSelector(ref, tuple(reqs))


def field_equals(field: str, value: str) -> str:
    """The selector text ``field=value`` with ``value`` escaped (upstream's
    ``OneTermEqualSelector``): a backslash, comma or equals sign in it stays part of the value
    instead of ending the term — build selectors from names with this, never by splicing."""
    escaped = value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
    return f"{field}={escaped}"
