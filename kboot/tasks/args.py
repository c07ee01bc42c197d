"""Binding YAML task arguments to a task's argument dataclass: the signature *is* the schema.

``check_names`` runs at load time (unknown and missing arguments, types of literal values);
``bind`` runs after templating and coerces the way Ansible users expect (``"yes"`` → True,
``"8080"`` → 8080, ``"a,b"`` → ``["a", "b"]`` for lists). Inline ``k=v`` strings are parsed by
``parse_kv``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

from kboot.templating import is_template

_TRUE = {"yes", "true", "on", "1", "y"}
_FALSE = {"no", "false", "off", "0", "n"}


class ArgError(ValueError):
    """An argument is unknown, missing or of the wrong type (message names the field)."""


@cache
def fields_of(cls: type) -> dict[str, Any]:
    """Field name → resolved type annotation."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def aliases_of(cls: type) -> dict[str, str]:
    aliases: dict[str, str] = getattr(cls, "ALIASES", {})
    return aliases


def required_of(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


def _canonical(cls: type, raw: Mapping[str, Any]) -> dict[str, Any]:
    known = fields_of(cls)
    aliases = aliases_of(cls)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = aliases.get(key, key)
        if name not in known:
            expected = ", ".join(sorted(known))
            raise ArgError(f"unknown argument {key!r} (expected one of: {expected})")
        if name in out:
            raise ArgError(f"argument {name!r} given twice (through an alias)")
        out[name] = value
    return out


def check_names(cls: type, raw: Mapping[str, Any]) -> None:
    """Load-time validation: names, required arguments, and types of non-templated values."""
    values = _canonical(cls, raw)
    missing = [name for name in required_of(cls) if name not in values]
    if missing:
        raise ArgError(f"missing required argument {missing[0]!r}")
    hints = fields_of(cls)
    for name, value in values.items():
        if not _has_template(value):
            coerce(value, hints[name], name)


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, Mapping):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_template(v) for v in value)
    return False


def bind(cls: type, raw: Mapping[str, Any]) -> Any:
    """Build the argument dataclass from rendered values, coercing types."""
    values = _canonical(cls, raw)
    hints = fields_of(cls)
    missing = [name for name in required_of(cls) if name not in values]
    if missing:
        raise ArgError(f"missing required argument {missing[0]!r}")
    kwargs = {name: coerce(value, hints[name], name) for name, value in values.items()}
    return cls(**kwargs)


def coerce(value: Any, hint: Any, name: str) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        members = get_args(hint)
        if value is None and type(None) in members:
            return None
        for member in members:  # an exact type match wins over coercion ("0600" stays a str)
            if isinstance(member, type) and type(value) is member:
                return value
        errors = []
        for member in members:
            if member is type(None):
                continue
            try:
                return coerce(value, member, name)
            except ArgError as exc:
                errors.append(str(exc))
        raise ArgError(errors[0] if len(errors) == 1 else f"{name}: unexpected value {value!r}")
    if origin is Literal:
        choices = get_args(hint)
        if value in choices:
            return value
        raise ArgError(f"{name}: expected one of {', '.join(map(str, choices))}, got {value!r}")
    if origin in (list, tuple):
        return _coerce_list(value, get_args(hint)[0] if get_args(hint) else Any, name)
    if origin is dict or hint is dict:
        if isinstance(value, Mapping):
            return dict(value)
        raise ArgError(f"{name}: expected a mapping, got {type(value).__name__}")
    return _coerce_scalar(value, hint, name)


def _coerce_list(value: Any, item: Any, name: str) -> tuple[Any, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple):
        raise ArgError(f"{name}: expected a list, got {type(value).__name__}")
    return tuple(coerce(v, item, name) for v in value)


def _coerce_scalar(value: Any, hint: Any, name: str) -> Any:
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str | int) and str(value).lower() in _TRUE | _FALSE:
            return str(value).lower() in _TRUE
        raise ArgError(f"{name}: expected a boolean, got {value!r}")
    if hint is int or hint is float:
        if isinstance(value, bool):
            raise ArgError(f"{name}: expected a number, got {value!r}")
        try:
            return hint(value)
        except (TypeError, ValueError):
            raise ArgError(f"{name}: expected a number, got {value!r}") from None
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ArgError(f"{name}: expected a string, got {type(value).__name__}")
    raise ArgError(f"{name}: unsupported argument type {hint!r}")  # pragma: no cover


def _tokens(text: str) -> list[tuple[int, int]]:
    """Spans of whitespace-separated words, keeping quotes and ``{{ … }}`` blocks whole."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    quote_char = ""
    depth = 0
    i = 0
    while i < len(text):
        pair = text[i:i + 2]
        ch = text[i]
        if start is None and not ch.isspace():
            start = i
        if quote_char:
            if ch == quote_char and text[i - 1] != "\\":
                quote_char = ""
        elif pair in ("{{", "{%"):
            depth += 1
            i += 1
        elif pair in ("}}", "%}") and depth:
            depth -= 1
            i += 1
        elif ch in "'\"" and depth == 0:
            quote_char = ch
        elif ch.isspace() and depth == 0 and start is not None:
            spans.append((start, i))
            start = None
        i += 1
    if start is not None:
        spans.append((start, len(text)))
    return spans


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def parse_kv(text: str) -> dict[str, str]:
    """Ansible's inline ``k=v k2='v 2' k3={{ x }}`` argument form."""
    out: dict[str, str] = {}
    for start, end in _tokens(text):
        token = text[start:end]
        key, sep, value = token.partition("=")
        if not sep or not key.isidentifier():
            raise ArgError(f"expected key=value arguments, got {token!r}")
        out[key] = _unquote(value)
    return out


def split_free_form(text: str, keys: frozenset[str]) -> tuple[str, dict[str, str]]:
    """Split ``command: make creates=/x chdir=/src`` into the command and its known options
    (the rest of the text is kept verbatim, newlines included)."""
    options: dict[str, str] = {}
    kept = text
    for start, end in reversed(_tokens(text)):
        key, sep, value = text[start:end].partition("=")
        if sep and key in keys:
            options[key] = _unquote(value)
            kept = kept[:start] + kept[end:]
    return kept.strip(), dict(reversed(options.items()))
