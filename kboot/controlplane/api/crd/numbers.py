"""Go's renderings of JSON values (``%v``, ``%T``), so messages read as upstream's (``10``, not
``10.0``; ``map[a:b]``; ``float64``)."""

from __future__ import annotations

import math
from typing import Any


def go_number(value: Any) -> str:
    """``%v`` of a JSON number as Go prints it: integers plain, floats in ``%g`` style."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e21:
            return str(int(value))
        text = repr(value)
        if "e" in text:
            mantissa, exponent = text.split("e")
            sign = "-" if exponent.startswith("-") else "+"
            return f"{mantissa}e{sign}{abs(int(exponent)):02d}"
        return text
    return str(value)


def json_type(value: Any) -> str:
    """The JSON schema type name of a decoded JSON value (what type errors quote)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_GO_TYPES = {"null": "<nil>", "boolean": "bool", "integer": "int64", "number": "float64",
             "string": "string", "array": "[]interface {}", "object": "map[string]interface {}"}


def go_type(value: Any) -> str:
    """Go's ``%T`` of a decoded JSON value (as client-go's unstructured helpers print it)."""
    return _GO_TYPES.get(json_type(value), json_type(value))


def go_repr(value: Any) -> str:
    """Go's ``%v`` of a decoded JSON value (close enough for scalars)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_repr(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_repr(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    return go_number(value) if isinstance(value, int | float) else str(value)
