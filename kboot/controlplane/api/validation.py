"""Validation: schema-driven checks plus each kind's semantic rules.

- :func:`validate` returns every :class:`FieldError` of an object (types and required fields
  from the kind's schema, ``metadata`` rules, then the kind's own rules in
  :mod:`.validation_pods` and :mod:`.validation_kinds`; with ``old`` also the update rules such
  as immutable selectors).  Required fields under ``status`` are not enforced: upstream only
  checks them by hand-written rules, and our kubelet and controllers write partial status.
- :func:`unknown_fields` lists the paths of fields the schema does not know, for
  ``fieldValidation=Strict`` (400) and ``Warn`` (warning headers).
- :func:`loads_checking_duplicates` parses raw JSON and reports duplicate fields, the other half
  of strict field validation.

Call it after :func:`~kboot.controlplane.api.defaults.apply_defaults`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from kboot.controlplane.api import names
from kboot.controlplane.api.field_errors import (
    TYPE_INVALID,
    FieldError,
    forbidden,
    invalid,
    required,
)
from kboot.controlplane.api.quantities import QUANTITY_ERROR, is_quantity
from kboot.controlplane.api.schemas import (
    INT_OR_STRING,
    QUANTITY,
    KindRef,
    Schema,
    deref,
    kind_schema,
    resolve_kind,
)
from kboot.controlplane.api.validation_kinds import KIND_RULES

Obj = dict[str, Any]

__all__ = ["FieldError", "loads_checking_duplicates", "unknown_fields", "validate"]

_MAX_ANNOTATIONS = 256 * 1024


def validate(kind: KindRef, obj: Obj, *, old: Obj | None = None,
             unknown: list[str] | None = None) -> list[FieldError]:
    """All validation errors of ``obj`` (a create when ``old`` is None, else an update).
    Pass a list as ``unknown`` to also collect :func:`unknown_fields` in the same walk."""
    rk = resolve_kind(kind)
    errors: list[FieldError] = []
    _walk(obj, kind_schema(rk), "", errors, unknown)
    if any(e.type == TYPE_INVALID for e in errors):
        return errors  # semantic rules assume well-typed input
    errors.extend(validate_metadata(obj.get("metadata") or {}, kind=rk.kind,
                                    namespaced=rk.namespaced))
    rule = KIND_RULES.get(rk.kind)
    if rule is not None:
        errors.extend(rule(obj, old))
    seen: set[tuple[str, str]] = set()
    unique = []
    for error in errors:  # schema-required and hand-written rules may both report a field
        if (error.type, error.field) not in seen:
            seen.add((error.type, error.field))
            unique.append(error)
    return unique


def unknown_fields(kind: KindRef, obj: Obj) -> list[str]:
    """Paths (``spec.containers[0].foo``) of fields ``kind``'s schema does not define."""
    unknown: list[str] = []
    _walk(obj, kind_schema(kind), "", [], unknown)
    return unknown


# ------------------------------------------------------------------------------ schema walk


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_error(value: Any, schema: Schema) -> str | None:
    """Why ``value`` does not fit a leaf ``schema`` (None when it does)."""
    ref = schema.get("$ref", "")
    if ref.endswith(INT_OR_STRING):
        ok = isinstance(value, (int, str)) and not isinstance(value, bool)
        return None if ok else "must be an integer or a string"
    if ref.endswith(QUANTITY):
        return None if is_quantity(value) else QUANTITY_ERROR
    kind = schema.get("type")
    checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    check = checks.get(kind or "")
    if check is not None and not check(value):
        return f"must be of type {kind}"
    if kind == "string" and schema.get("format") == "byte":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return "must be base64-encoded data"
    return None


def _walk(value: Any, schema: Schema | None, path: str, errors: list[FieldError],
          unknown: list[str] | None) -> None:
    if value is None or schema is None:
        return
    problem = _type_error(value, schema)
    if problem is not None:
        errors.append(FieldError(TYPE_INVALID, path, problem, value))
        return
    if schema.get("$ref", "").endswith((INT_OR_STRING, QUANTITY)):
        return
    target = deref(schema)
    if target is not schema and _type_error(value, target) is not None:
        errors.append(FieldError(TYPE_INVALID, path, f"must be of type {target.get('type')}",
                                 value))
        return
    if isinstance(value, list):
        item_schema = target.get("items")
        for i, item in enumerate(value):
            _walk(item, item_schema, f"{path}[{i}]", errors, unknown)
    elif isinstance(value, dict):
        _walk_object(value, target, path, errors, unknown)


def _walk_object(value: Obj, schema: Schema, path: str, errors: list[FieldError],
                 unknown: list[str] | None) -> None:
    props: dict[str, Schema] = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    closed = bool(props) and not schema.get("x-kubernetes-preserve-unknown-fields")
    for key, item in value.items():
        if key in props:
            _walk(item, props[key], _join(path, key), errors, unknown)
        elif isinstance(extra, dict):
            _walk(item, extra, f"{path}[{key}]", errors, unknown)
        elif closed and unknown is not None:
            unknown.append(_join(path, key))
    if not path.startswith("status"):
        for key in schema.get("required", ()):
            if value.get(key) is None:
                errors.append(required(_join(path, key)))


# ------------------------------------------------------------------------------- metadata

_RBAC = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")


def name_errors(kind: str, name: str) -> list[str]:
    """Problems with ``metadata.name`` for ``kind``."""
    if kind == "Namespace":
        return names.is_dns1123_label(name)
    if kind == "Service":
        return names.is_dns1035_label(name)
    if kind in _RBAC:
        return names.is_path_segment_name(name)
    return names.is_dns1123_subdomain(name)


def validate_metadata(meta: Obj, *, kind: str, namespaced: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    name = meta.get("name")
    if not name:
        errors.append(required("metadata.name", "name or generateName is required"))
    else:
        errors.extend(invalid("metadata.name", name, e) for e in name_errors(kind, name))
    namespace = str(meta.get("namespace") or "")
    if namespaced and not namespace:
        errors.append(required("metadata.namespace"))
    elif namespaced:
        errors.extend(invalid("metadata.namespace", namespace, e)
                      for e in names.is_dns1123_label(namespace))
    elif namespace:
        errors.append(forbidden("metadata.namespace", "not allowed on this type"))
    errors.extend(validate_labels(meta.get("labels") or {}, "metadata.labels"))
    annotations = meta.get("annotations") or {}
    for key in annotations:
        errors.extend(invalid("metadata.annotations", key, e) for e in names.is_qualified_name(key))
    if sum(len(k) + len(str(v)) for k, v in annotations.items()) > _MAX_ANNOTATIONS:
        errors.append(FieldError("FieldValueTooLong", "metadata.annotations",
                                 f"may not have more than {_MAX_ANNOTATIONS} bytes"))
    for i, ref in enumerate(meta.get("ownerReferences") or ()):
        if not isinstance(ref, dict):
            continue
        for key in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(key):
                errors.append(required(f"metadata.ownerReferences[{i}].{key}"))
    return errors


def validate_labels(labels: Obj, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for key, value in labels.items():
        errors.extend(invalid(path, key, e) for e in names.is_qualified_name(key))
        if isinstance(value, str):
            errors.extend(invalid(f"{path}[{key}]", value, e) for e in names.is_label_value(value))
    return errors


# ---------------------------------------------------------------------------- duplicates


class _Pairs(dict[str, Any]):
    duplicates: list[str]


def _pairs_hook(pairs: list[tuple[str, Any]]) -> _Pairs:
    out = _Pairs()
    out.duplicates = []
    for key, value in pairs:
        if key in out:
            out.duplicates.append(key)
        out[key] = value
    return out


def _collect(value: Any, path: str, found: list[str]) -> Any:
    if isinstance(value, _Pairs):
        found.extend(_join(path, k) for k in value.duplicates)
        return {k: _collect(v, _join(path, k), found) for k, v in value.items()}
    if isinstance(value, list):
        return [_collect(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
    return value


def loads_checking_duplicates(text: str | bytes) -> tuple[Any, list[str]]:
    """Parse JSON; also return the paths of duplicated fields (the last value wins, as
    upstream).  Raises ``json.JSONDecodeError``/``UnicodeDecodeError`` on malformed input."""
    found: list[str] = []
    data = json.loads(text, object_pairs_hook=_pairs_hook)
    return _collect(data, "", found), found
