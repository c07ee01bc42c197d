"""JSON values as CEL sees them in CRD rules: typed by the schema, as upstream does.

Upstream's CEL adaptor (``apiserver/pkg/cel/common``) converts a value by its schema, not by
its JSON shape: ``type: number`` is always a double (``1`` too), and strings with
``format: date-time``/``datetime``/``date`` are timestamps, ``format: duration`` durations and
``format: byte`` bytes — so ``self.expiry > timestamp('2025-01-01T00:00:00Z')`` compares
times.  A string that does not parse stays a string (schema validation reports it first).
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from kboot.controlplane.api.crd.paths import field_of

Schema = dict[str, Any]
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
          "h": 3600.0}


def cel_value(value: Any, schema: Schema) -> Any:
    """``value`` converted for CEL by ``schema``."""
    type_ = schema.get("type")
    if type_ == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type_ == "string" and isinstance(value, str):
        return _formatted(value, schema.get("format"))
    if isinstance(value, dict):
        props = field_of(schema, "properties")
        extra = field_of(schema, "additionalProperties")
        return {k: cel_value(v, field_of(props, k) or extra) for k, v in value.items()}
    if isinstance(value, list):
        items = field_of(schema, "items")
        return [cel_value(v, items) for v in value]
    return value


def _formatted(value: str, fmt: Any) -> Any:
    if fmt in ("date-time", "datetime", "date"):
        return _timestamp(value, date_only=fmt == "date")
    if fmt == "duration":
        return _duration(value)
    if fmt == "byte":
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return value
    return value


def _timestamp(value: str, *, date_only: bool) -> Any:
    text = value + "T00:00:00Z" if date_only else value
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _duration(value: str) -> Any:
    """A Go duration (``1h30m``, ``-1.5s``) as a timedelta."""
    sign, text = (-1, value[1:]) if value.startswith("-") else (1, value.lstrip("+"))
    if text == "0":
        return timedelta(0)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return value
    seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    return timedelta(seconds=sign * seconds)
