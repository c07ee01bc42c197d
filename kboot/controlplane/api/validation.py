"""Validation: schema-driven checks plus each kind's semantic rules.

- :func:`validate` returns every :class:`FieldError` of an object (types and required fields
  from the kind's schema via :func:`.typed.decode`, ``metadata`` rules, then the kind's rules in
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

import json
from typing import Any

from kboot.controlplane.api import names, typed
from kboot.controlplane.api.field_errors import (
    REQUIRED,
    FieldError,
    forbidden,
    invalid,
    required,
)
from kboot.controlplane.api.schemas import KindRef, resolve_kind
from kboot.controlplane.api.validation_kinds import KIND_RULES

Obj = dict[str, Any]

__all__ = ["FieldError", "loads_checking_duplicates", "unknown_fields", "validate"]

_MAX_ANNOTATIONS = 256 * 1024


def validate(kind: KindRef, obj: Obj, *, old: Obj | None = None,
             unknown: list[str] | None = None) -> list[FieldError]:
    """All validation errors of ``obj`` (a create when ``old`` is None, else an update).
    Pass a list as ``unknown`` to also collect :func:`unknown_fields` in the same walk."""
    rk = resolve_kind(kind)
    decoded = typed.decode(rk, obj)
    if unknown is not None:
        unknown.extend(decoded.unknown)
    if decoded.errors:
        return decoded.errors  # semantic rules assume well-typed input
    obj = decoded.obj
    errors = list(decoded.missing)
    errors.extend(validate_metadata(obj.get("metadata") or {}, kind=rk.kind,
                                    namespaced=rk.namespaced))
    rule = KIND_RULES.get(rk.kind)
    if rule is not None:
        errors.extend(rule(obj, old))
    return unique(errors)


def unique(errors: list[FieldError]) -> list[FieldError]:
    """``errors`` without repeats: schema-required and hand-written rules may both report a
    field (one Required kept); other errors are kept unless identical (upstream lists every
    problem of a field)."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for error in errors:
        key = (error.type, error.field, "" if error.type == REQUIRED else error.message)
        if key not in seen:
            seen.add(key)
            out.append(error)
    return out


def unknown_fields(kind: KindRef, obj: Obj) -> list[str]:
    """Paths (``spec.containers[0].foo``) of fields ``kind``'s schema does not define."""
    return typed.decode(kind, obj).unknown


# ------------------------------------------------------------------------------- metadata

_RBAC = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")


def name_errors(kind: str, name: str) -> list[str]:
    """Problems with ``metadata.name`` for ``kind``."""
    if kind == "Namespace":
        return names.is_dns1123_label(name)
    if kind == "Service":
        return names.is_dns1035_label(name)
    if kind in _RBAC or kind == "APIService":  # APIService: "<version>.<group>", "v1." too
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


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


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
