"""Structural-schema rules for a CRD version's ``openAPIV3Schema``.

A schema is *structural* (upstream ``apiextensions-apiserver/pkg/apiserver/schema``) when every
field's type is declared in the structural part (``type``, ``properties``, ``items``,
``additionalProperties``) and the value-validation parts (``allOf``, ``anyOf``, ``oneOf``,
``not``) only narrow values: they may not declare types, defaults, descriptions, nullable or
Kubernetes extensions, and every property they name must also be in the structural part.
Pruning and defaulting need that shape, so ``apiextensions.k8s.io/v1`` refuses anything else.

:func:`schema_errors` returns every problem of a schema (per-keyword rules from
:mod:`.keywords`, then the structural ones here) with upstream's paths
(``...openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified
object fields``) and messages.  Defaults are checked by :mod:`.defaults_check`; CEL rules by
:mod:`.cel`.
"""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api.crd.keywords import keyword_errors
from kboot.controlplane.api.crd.paths import child, field_of, index, key, list_of
from kboot.controlplane.api.field_errors import (
    FieldError,
    forbidden,
    invalid,
    required,
)

Schema = dict[str, Any]
_ROOT, _ITEM, _FIELD = "root", "item", "field"
_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]


def schema_errors(schema: Any, path: str, *, status_subresource: bool = False) -> list[FieldError]:
    """All problems of a version's ``openAPIV3Schema`` found at ``path``."""
    if not isinstance(schema, dict):
        return [invalid(path, schema, "must be an object")]
    errors = keyword_errors(schema, path, in_meta=False)
    errors.extend(_invariants(schema, _ROOT, path))
    errors.extend(_completeness(schema, path))
    if schema.get("nullable"):
        errors.append(forbidden(child(path, "nullable"), "nullable cannot be true at the root"))
    if status_subresource and schema.get("type") not in (None, "object"):
        errors.append(invalid(child(path, "type"), schema.get("type"), 'only "object" is allowed '
                              "as the type at the root of the schema if the status subresource "
                              "is enabled"))
    return errors


# ---------------------------------------------------------------- structural invariants


def _invariants(schema: Schema, level: str, path: str) -> list[FieldError]:
    """Upstream's ``validateStructuralInvariants``."""
    errors: list[FieldError] = []
    type_ = schema.get("type") or ""
    items = schema.get("items")
    if type_ == "array" and items is None:
        errors.append(required(child(path, "items"), "must be specified"))
    if isinstance(items, dict):
        errors.extend(_invariants(items, _ITEM, child(path, "items")))
    properties = field_of(schema, "properties")
    for name, sub in properties.items():
        if isinstance(sub, dict):
            errors.extend(_invariants(sub, _FIELD, key(child(path, "properties"), name)))
    additional = schema.get("additionalProperties")
    if additional is not None and additional is not False:
        if level == _ROOT:
            errors.append(forbidden(child(path, "additionalProperties"),
                                    "must not be used at the root"))
        if isinstance(additional, dict):
            errors.extend(_invariants(additional, _FIELD, child(path, "additionalProperties")))
    errors.extend(_extension_conflicts(schema, path))
    errors.extend(_value_validation(schema, path))
    errors.extend(_type_invariants(schema, level, path))
    embedded = bool(schema.get("x-kubernetes-embedded-resource"))
    check_meta = level == _ROOT or embedded
    for name in ("kind", "apiVersion"):
        sub = properties.get(name)
        if check_meta and isinstance(sub, dict) and sub.get("type") != "string":
            errors.append(invalid(child(key(child(path, "properties"), name), "type"),
                                  sub.get("type", ""), "must be string"))
    meta = properties.get("metadata")
    if isinstance(meta, dict):
        errors.extend(_metadata(meta, check_meta, level, key(child(path, "properties"),
                                                              "metadata")))
    if embedded and not schema.get("x-kubernetes-preserve-unknown-fields") and not properties:
        errors.append(required(child(path, "properties"), "must not be empty if "
                               "x-kubernetes-embedded-resource is true without "
                               "x-kubernetes-preserve-unknown-fields"))
    return errors


def _extension_conflicts(schema: Schema, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if schema.get("x-kubernetes-int-or-string"):
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            errors.append(invalid(child(path, "x-kubernetes-preserve-unknown-fields"), True,
                                  "must be false if x-kubernetes-int-or-string is true"))
        if schema.get("x-kubernetes-embedded-resource"):
            errors.append(invalid(child(path, "x-kubernetes-embedded-resource"), True,
                                  "must be false if x-kubernetes-int-or-string is true"))
    return errors


def _type_invariants(schema: Schema, level: str, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    type_ = schema.get("type") or ""
    embedded = bool(schema.get("x-kubernetes-embedded-resource"))
    if embedded and type_ != "object":
        message = "must be object if x-kubernetes-embedded-resource is true"
        errors.append(required(child(path, "type"), message) if not type_
                      else invalid(child(path, "type"), type_, message))
    elif not type_ and not schema.get("x-kubernetes-int-or-string") \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        message = {_ROOT: "must not be empty at the root",
                   _ITEM: "must not be empty for specified array items",
                   _FIELD: "must not be empty for specified object fields"}[level]
        errors.append(required(child(path, "type"), message))
    additional = schema.get("additionalProperties")
    if embedded and additional is not None and additional is not False:
        errors.append(forbidden(child(path, "additionalProperties"),
                                "must not be used if x-kubernetes-embedded-resource is set"))
    if level == _ROOT and type_ and type_ != "object":
        errors.append(invalid(child(path, "type"), type_, "must be object at the root"))
    return errors


def _metadata(meta: Schema, check_meta: bool, level: str, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if check_meta and meta.get("type") != "object":
        errors.append(invalid(child(path, "type"), meta.get("type", ""), "must be object"))
    if level == _ROOT:
        rest = {k: v for k, v in meta.items() if k not in ("type", "default")}
        props = field_of(rest, "properties")
        if set(props) <= {"name", "generateName"}:
            rest.pop("properties", None)
        if rest:
            errors.append(forbidden(path, "must not specify anything other than name and "
                                          "generateName, but metadata is implicitly specified"))
    return errors


_NESTED_FORBIDDEN = (
    ("type", "must be empty to be structural"),
    ("additionalProperties", "must be undefined to be structural"),
    ("default", "must be undefined to be structural"),
    ("title", "must be empty to be structural"),
    ("description", "must be empty to be structural"),
    ("nullable", "must be false to be structural"),
    ("x-kubernetes-preserve-unknown-fields", "must be false to be structural"),
    ("x-kubernetes-embedded-resource", "must be false to be structural"),
    ("x-kubernetes-int-or-string", "must be false to be structural"),
    ("x-kubernetes-list-map-keys", "must be empty to be structural"),
    ("x-kubernetes-list-type", "must be undefined to be structural"),
    ("x-kubernetes-map-type", "must be undefined to be structural"),
)


def _value_validation(schema: Schema, path: str, *, in_nested: bool = False) -> list[FieldError]:
    """``allOf``/``anyOf``/``oneOf``/``not`` may only narrow values (int-or-string's
    ``anyOf: [{type: integer}, {type: string}]`` is the one allowed exception)."""
    errors: list[FieldError] = []
    skip_any_of = schema.get("anyOf") == _INT_OR_STRING_ANY_OF
    all_of = list_of(schema, "allOf")
    skip_first = bool(all_of) and isinstance(all_of[0], dict) \
        and all_of[0].get("anyOf") == _INT_OR_STRING_ANY_OF
    for name in ("anyOf", "allOf", "oneOf"):
        for i, sub in enumerate(list_of(schema, name)):
            if (name == "anyOf" and skip_any_of) or not isinstance(sub, dict):
                continue
            errors.extend(_nested(sub, index(child(path, name), i),
                                  skip_any_of=(name == "allOf" and i == 0 and skip_first)))
    if isinstance(schema.get("not"), dict):
        errors.extend(_nested(schema["not"], child(path, "not"), skip_any_of=False))
    return errors


def _nested(schema: Schema, path: str, *, skip_any_of: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    for name, message in _NESTED_FORBIDDEN:
        value = schema.get(name)
        if value not in (None, False, "", [], {}) or (name == "default" and name in schema):
            if skip_any_of and name == "type":
                continue
            errors.append(forbidden(child(path, name), message))
    if schema.get("x-kubernetes-validations"):
        errors.append(forbidden(child(path, "x-kubernetes-validations"),
                                "must be empty to be structural"))
    if "metadata" in field_of(schema, "properties"):
        errors.append(forbidden(key(child(path, "properties"), "metadata"),
                                "must not be specified in a nested context"))
    inner = {k: v for k, v in schema.items() if k != "anyOf"} if skip_any_of else schema
    errors.extend(_value_validation(inner, path, in_nested=True))
    for name, sub in field_of(schema, "properties").items():
        if isinstance(sub, dict):
            errors.extend(_nested(sub, key(child(path, "properties"), name), skip_any_of=False))
    for name in ("items", "additionalProperties"):
        sub = schema.get(name)
        if isinstance(sub, dict) and name == "items":
            errors.extend(_nested(sub, child(path, name), skip_any_of=False))
    return errors


# -------------------------------------------------------------------------- completeness


def _completeness(schema: Schema, path: str) -> list[FieldError]:
    """Every property a value validation names must be in the structural part."""
    errors: list[FieldError] = []
    for name in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(list_of(schema, name)):
            if isinstance(sub, dict):
                errors.extend(_complete(sub, schema, path, index(child(path, name), i)))
    if isinstance(schema.get("not"), dict):
        errors.extend(_complete(schema["not"], schema, path, child(path, "not")))
    for name, sub in field_of(schema, "properties").items():
        if isinstance(sub, dict):
            errors.extend(_completeness(sub, key(child(path, "properties"), name)))
    for name in ("items", "additionalProperties"):
        if isinstance(schema.get(name), dict):
            errors.extend(_completeness(schema[name], child(path, name)))
    return errors


def _complete(nested: Schema, structural: Schema | None, s_path: str,
              v_path: str) -> list[FieldError]:
    if structural is None:
        return [required(s_path, f"because it is defined in {v_path}")]
    errors: list[FieldError] = []
    s_props = field_of(structural, "properties")
    for name, sub in field_of(nested, "properties").items():
        if not isinstance(sub, dict):
            continue
        target = s_props.get(name)
        if not isinstance(target, dict):
            errors.append(required(key(child(s_path, "properties"), name), "because it is "
                                   f"defined in {key(child(v_path, 'properties'), name)}"))
            continue
        errors.extend(_complete(sub, target, key(child(s_path, "properties"), name),
                                key(child(v_path, "properties"), name)))
    if isinstance(nested.get("items"), dict):
        items = structural.get("items")
        errors.extend(_complete(nested["items"], items if isinstance(items, dict) else None,
                                child(s_path, "items"), child(v_path, "items")))
    for name in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(list_of(nested, name)):
            if isinstance(sub, dict):
                errors.extend(_complete(sub, structural, s_path, index(child(v_path, name), i)))
    if isinstance(nested.get("not"), dict):
        errors.extend(_complete(nested["not"], structural, s_path, child(v_path, "not")))
    return errors
