"""Field errors: what validation returns and what a 422 ``Status`` lists as causes.

A :class:`FieldError` renders like upstream's ``field.Error`` (``spec.containers[0].image:
Required value``), so kubectl shows the messages users know.  Paths use ``.`` for fields,
``[i]`` for list items and ``[key]`` for map keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_NO_VALUE: Any = object()

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TYPE_INVALID = "FieldValueTypeInvalid"
TOO_LONG = "FieldValueTooLong"
NOT_FOUND = "FieldValueNotFound"
TOO_MANY = "FieldValueTooMany"

_LEADS = {REQUIRED: "Required value", INVALID: "Invalid value", NOT_SUPPORTED: "Unsupported value",
          DUPLICATE: "Duplicate value", FORBIDDEN: "Forbidden", TYPE_INVALID: "Invalid value",
          TOO_LONG: "Too long", NOT_FOUND: "Not found",
          TOO_MANY: "Too many"}


def _render(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


@dataclass(frozen=True)
class FieldError:
    type: str
    field: str
    detail: str = ""
    value: Any = _NO_VALUE

    @property
    def message(self) -> str:
        """The error body without the field, e.g. ``Invalid value: "x": must be ...``."""
        parts = [_LEADS.get(self.type, self.type)]
        if self.value is not _NO_VALUE and self.type not in (REQUIRED, FORBIDDEN, TOO_LONG):
            parts.append(_render(self.value))
        if self.detail:
            parts.append(self.detail)
        return ": ".join(parts)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def cause(self) -> dict[str, str]:
        """A ``StatusCause`` for ``details.causes``."""
        return {"reason": self.type, "message": self.message, "field": self.field}


def required(field: str, detail: str = "") -> FieldError:
    return FieldError(REQUIRED, field, detail)


def invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError(INVALID, field, detail, value)


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError(FORBIDDEN, field, detail)


def duplicate(field: str, value: Any) -> FieldError:
    return FieldError(DUPLICATE, field, "", value)


def not_supported(field: str, value: Any, supported: Iterable[str]) -> FieldError:
    listed = ", ".join(json.dumps(s) for s in supported)
    return FieldError(NOT_SUPPORTED, field, f"supported values: {listed}", value)


def check_enum(field: str, value: Any, supported: Iterable[str]) -> list[FieldError]:
    options = tuple(supported)
    return [] if value is None or value in options else [not_supported(field, value, options)]


def not_found(field: str, value: Any) -> FieldError:
    return FieldError(NOT_FOUND, field, "", value)


def in_range(field: str, value: Any, low: int, high: int | None = None) -> list[FieldError]:
    """``value`` (when set) is an integer in ``[low, high]``."""
    if value is None or not isinstance(value, int):
        return []
    if high is None:
        return [] if value >= low else [invalid(field, value, f"must be greater than or equal "
                                                              f"to {low}")]
    if low <= value <= high:
        return []
    return [invalid(field, value, f"must be between {low} and {high}, inclusive")]


def too_many(field: str, actual: int, limit: int) -> FieldError:
    """Upstream's ``field.TooMany``: ``Too many: 5: must have at most 3 items``."""
    return FieldError(TOO_MANY, field, f"must have at most {limit} items", actual)


def immutable(field: str, value: Any) -> FieldError:
    return invalid(field, value, "field is immutable")


def invalid_message(kind: str, name: str, errors: list[FieldError]) -> str:
    """The ``Status.message`` for a 422: ``Pod "p" is invalid: <errors>``."""
    listed = [str(e) for e in errors]
    body = listed[0] if len(listed) == 1 else "[" + ", ".join(listed) + "]"
    return f'{kind} "{name}" is invalid: {body}'
