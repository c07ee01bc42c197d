"""``additionalPrinterColumns`` as Table columns and cells, as upstream's CRD table convertor.

A CRD version's columns (or, when it declares none, an ``Age`` column on
``.metadata.creationTimestamp``) follow the ``Name`` column.  Each cell is the first value its
``jsonPath`` selects: ``string`` columns print it as kubectl's JSONPath printer would (strings
raw, other values as text); ``integer``/``number``/``boolean`` columns keep JSON values of that
type (a float in an integer column is truncated, as upstream's ``cellForJSONValue``); ``date``
columns render the age of an RFC 3339 timestamp (``5m``, ``3d``).  A value that is missing or
of the wrong type is a null cell, which kubectl shows as ``<none>``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from kboot.controlplane.api.crd.jsonpath import JSONPathError, find
from kboot.controlplane.api.crd.numbers import go_number, is_number
from kboot.controlplane.api.crd.paths import field_of
from kboot.controlplane.api.printers_base import NAME, Column, parse_time, since

Obj = dict[str, Any]
AGE_COLUMN: Obj = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def effective_columns(columns: list[Obj]) -> list[Obj]:
    """The version's printer columns, or upstream's default ``Age`` column."""
    return list(columns) if columns else [AGE_COLUMN]


def table_columns(columns: list[Obj]) -> list[Column]:
    """``columnDefinitions`` of the Table: Name, then each printer column."""
    out: list[Column] = [NAME]
    for column in effective_columns(columns):
        out.append({"name": column.get("name", ""), "type": column.get("type", "string"),
                    "format": column.get("format", ""),
                    "description": column.get("description", ""),
                    "priority": int(column.get("priority") or 0)})
    return out


def row_cells(obj: Obj, columns: list[Obj], now: datetime) -> list[Any]:
    """One row: the name, then a cell per printer column."""
    meta = field_of(obj, "metadata")
    cells: list[Any] = [meta.get("name", "")]
    for column in effective_columns(columns):
        cells.append(cell(obj, column, now))
    return cells


def cell(obj: Obj, column: Obj, now: datetime) -> Any:
    try:
        found = find(obj, str(column.get("jsonPath", "")))
    except JSONPathError:
        return None
    if not found:
        return None
    value = found[0]
    type_ = column.get("type", "string")
    if type_ == "string":
        return _text(value)
    return _typed(type_, value, now)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return go_number(value)
    return json.dumps(value, separators=(",", ":"))


def _typed(type_: str, value: Any, now: datetime) -> Any:
    if type_ == "integer" and is_number(value):
        return int(value)
    if type_ == "number" and is_number(value):
        return float(value) if isinstance(value, float) else value
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "date" and isinstance(value, str):
        return since(value, now) if parse_time(value) else None
    return None
