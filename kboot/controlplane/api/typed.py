"""Typed decoding: an object checked against its kind's schema before any rule reads it.

Upstream decodes a body into Go structs first, so every later step (defaulting, validation,
strategies) sees well-typed values, and a body that does not fit is refused naming the field.
Our objects stay JSON dicts; :func:`decode` plays the struct decoder's part, in one place:

- a value of the wrong JSON type, a non-finite number, an integer outside its ``int32``/``int64``
  range, a quantity that does not parse, a ``byte`` string that is not base64 — each is a
  ``FieldValueTypeInvalid`` error at its path (``spec.replicas``);
- an explicit ``null`` in an object field means "unset" (as for a Go pointer or ``omitempty``
  field) and is dropped, so rules never see ``{"selector": None}``; a ``null`` list item or map
  value has no such meaning and is an error;
- fields the schema does not know are collected (for ``fieldValidation``), not judged.

:func:`decode` returns a cleaned copy; defaulting runs only on input without errors, and
validation reports the errors (with nothing else: semantic rules assume typed input).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field
from typing import Any

from kboot.controlplane.api.field_errors import TYPE_INVALID, FieldError, required
from kboot.controlplane.api.quantities import QUANTITY_ERROR, is_quantity
from kboot.controlplane.api.schemas import INT_OR_STRING, QUANTITY, KindRef, Schema, deref
from kboot.controlplane.api.schemas import kind_schema as _kind_schema

Obj = dict[str, Any]

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


@dataclass
class Decoded:
    """The result of :func:`decode`: the cleaned object and what the walk found."""

    obj: Obj
    errors: list[FieldError] = field(default_factory=list)  # type errors
    missing: list[FieldError] = field(default_factory=list)  # required fields (not status)
    unknown: list[str] = field(default_factory=list)  # fields the schema does not define


def decode(kind: KindRef, obj: Obj) -> Decoded:
    """``obj`` with null fields dropped, its type errors, missing and unknown fields."""
    return decode_as(_kind_schema(kind), obj)


def decode_as(schema: Schema, obj: Obj) -> Decoded:
    """:func:`decode` for any schema (``Scale``, ``DeleteOptions``... bodies)."""
    found = Decoded(obj)
    out = _value(obj, schema, "", found)
    if isinstance(out, dict):
        found.obj = out
    return found


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_error(value: Any, fmt: str | None) -> str | None:
    if not _is_int(value):
        return "must be of type integer"
    low, high = _INT_RANGES.get(fmt or "int64", _INT_RANGES["int64"])
    if not low <= value <= high:
        return f"must be a {fmt or 'int64'} (between {low} and {high})"
    return None


_CHECKS: dict[str, type] = {"string": str, "boolean": bool, "array": list, "object": dict}
_SPECIAL_REFS = (INT_OR_STRING, QUANTITY)


def type_error(value: Any, schema: Schema) -> str | None:
    """Why ``value`` does not fit a leaf ``schema`` (None when it does)."""
    ref = schema.get("$ref")
    if ref is not None:
        if ref.endswith(INT_OR_STRING):
            if isinstance(value, str):
                return None
            return None if _int_error(value, "int32") is None else \
                "must be an integer (int32) or a string"
        if ref.endswith(QUANTITY):
            return None if is_quantity(value) else QUANTITY_ERROR
    return _typed_error(value, schema)


def _typed_error(value: Any, schema: Schema) -> str | None:
    """:func:`type_error` by the schema's ``type`` and ``format`` alone."""
    kind = schema.get("type")
    if kind is None:
        return None
    if kind == "integer":
        return _int_error(value, schema.get("format"))
    if kind == "number":
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and math.isfinite(value))
        return None if ok else "must be a finite number"
    expected = _CHECKS.get(kind)
    if expected is not None and not isinstance(value, expected):
        return f"must be of type {kind}"
    if kind == "string" and schema.get("format") == "byte":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return "must be base64-encoded data"
    return None


def _value(value: Any, schema: Schema | None, path: str, found: Decoded) -> Any:
    if schema is None:
        return value
    ref = schema.get("$ref")
    if ref is None:  # the common case: one check against the schema itself
        target = schema
        problem = _typed_error(value, schema)
    elif ref.endswith(_SPECIAL_REFS):  # int-or-string, quantity: leaves, checked whole
        problem = type_error(value, schema)
        if problem is None:
            return value
        target = schema
    else:
        problem = _typed_error(value, schema)
        target = deref(schema)
        if problem is None and target is not schema:
            problem = type_error(value, target)
    if problem is not None:
        found.errors.append(FieldError(TYPE_INVALID, path, problem, value))
        return value
    if isinstance(value, list):
        return _items(value, target.get("items"), path, found)
    if isinstance(value, dict):
        return _object(value, target, path, found)
    return value


def _items(value: list[Any], schema: Schema | None, path: str, found: Decoded) -> list[Any]:
    out: list[Any] = []
    for i, item in enumerate(value):
        if item is None and schema is not None:
            found.errors.append(FieldError(TYPE_INVALID, f"{path}[{i}]", "must not be null",
                                           None))
            out.append(item)
            continue
        out.append(_value(item, schema, f"{path}[{i}]", found))
    return out


def _object(value: Obj, schema: Schema, path: str, found: Decoded) -> Obj:
    props: dict[str, Schema] = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    closed = bool(props) and not schema.get("x-kubernetes-preserve-unknown-fields")
    out: Obj = {}
    for key, item in value.items():
        if not isinstance(key, str):
            found.errors.append(FieldError(TYPE_INVALID, path or "<root>",
                                           "keys must be strings", str(key)))
            continue
        if key in props:
            if item is not None:
                out[key] = _value(item, props[key], _join(path, key), found)
        elif isinstance(extra, dict):
            if item is None:
                found.errors.append(FieldError(TYPE_INVALID, f"{path}[{key}]",
                                               "must not be null", None))
                out[key] = item
                continue
            out[key] = _value(item, extra, f"{path}[{key}]", found)
        else:
            if closed:
                found.unknown.append(_join(path, key))
            out[key] = item
    if not path.startswith("status"):
        found.missing.extend(required(_join(path, key)) for key in schema.get("required", ())
                             if out.get(key) is None)
    return out
