"""Structural-schema rules for a CRD version's ``openAPIV3Schema``.

A schema is *structural* (upstream ``apiextensions-apiserver/pkg/apiserver/schema``) when every
field's type is declared in the structural part (``type``, ``properties``, ``items``,
``additionalProperties``) and the value-validation parts (``allOf``, ``anyOf``, ``oneOf``,
``not``) only narrow values: they may not declare types, defaults, descriptions, nullable or
Kubernetes extensions, and every property they name must also be in the structural part.
Pruning and defaulting need that shape, so ``apiextensions.k8s.io/v1`` refuses anything else.

:func:`schema_errors` returns every problem of a schema with upstream's paths
(``...openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified
object fields``) and messages.  Defaults are checked by :mod:`.defaults_check`; CEL rules by
:mod:`.cel`.
"""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api.crd.paths import child, field_of, index, key, list_of
from kboot.controlplane.api.crd.values import compiled_pattern
from kboot.controlplane.api.field_errors import (
    FieldError,
    forbidden,
    invalid,
    not_supported,
    required,
)

Schema = dict[str, Any]
TYPES = ("array", "boolean", "integer", "number", "object", "string")
_ROOT, _ITEM, _FIELD = "root", "item", "field"
_UNSUPPORTED = (("id", "id is not supported"),
                ("additionalItems", "additionalItems is not supported"),
                ("patternProperties", "patternProperties is not supported"),
                ("definitions", "definitions is not supported"),
                ("dependencies", "dependencies is not supported"),
                ("$ref", "$ref is not supported"))
_REASONS = ("FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid",
            "FieldValueRequired")
_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]


def schema_errors(schema: Any, path: str, *, status_subresource: bool = False) -> list[FieldError]:
    """All problems of a version's ``openAPIV3Schema`` found at ``path``."""
    if not isinstance(schema, dict):
        return [invalid(path, schema, "must be an object")]
    errors = _props(schema, path, in_meta=False)
    errors.extend(_invariants(schema, _ROOT, path))
    errors.extend(_completeness(schema, path))
    if schema.get("nullable"):
        errors.append(forbidden(child(path, "nullable"), "nullable cannot be true at the root"))
    if status_subresource and schema.get("type") not in (None, "object"):
        errors.append(invalid(child(path, "type"), schema.get("type"), 'only "object" is allowed '
                              "as the type at the root of the schema if the status subresource "
                              "is enabled"))
    return errors


# ------------------------------------------------------------- per-property (API validation)


def _props(schema: Schema, path: str, *, in_meta: bool) -> list[FieldError]:
    """Upstream's ``ValidateCustomResourceDefinitionOpenAPISchema``: keywords one by one."""
    errors: list[FieldError] = []
    type_ = schema.get("type")
    if type_ == "null":
        errors.append(forbidden(child(path, "type"),
                                "type cannot be set to null, use nullable as an alternative"))
    elif type_ not in (None, "") and type_ not in TYPES:
        errors.append(not_supported(child(path, "type"), type_, TYPES))
    for name, message in _UNSUPPORTED:
        if name in schema:
            errors.append(forbidden(child(path, name), message))
    if schema.get("uniqueItems") is True:
        errors.append(forbidden(child(path, "uniqueItems"), "uniqueItems cannot be set to true "
                                "since the runtime complexity becomes quadratic"))
    if isinstance(schema.get("items"), list):
        errors.append(forbidden(child(path, "items"),
                                "items must be a schema object and not an array"))
    if schema.get("properties") and isinstance(schema.get("additionalProperties"), dict | bool) \
            and schema.get("additionalProperties") is not False:
        errors.append(forbidden(child(path, "additionalProperties"),
                                "additionalProperties and properties are mutual exclusive"))
    if in_meta and schema.get("x-kubernetes-embedded-resource"):
        errors.append(forbidden(child(path, "x-kubernetes-embedded-resource"),
                                "must not be used inside of resource meta"))
    if schema.get("x-kubernetes-preserve-unknown-fields") is False:
        errors.append(invalid(child(path, "x-kubernetes-preserve-unknown-fields"), False,
                              "must be true or undefined"))
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and compiled_pattern(pattern) is None:
        errors.append(invalid(child(path, "pattern"), pattern,
                              "must be a valid regular expression, but isn't"))
    errors.extend(_map_type(schema, path))
    errors.extend(_list_type(schema, path))
    errors.extend(_validation_rules(schema, path))
    errors.extend(_children(schema, path, in_meta=in_meta))
    return errors


def _children(schema: Schema, path: str, *, in_meta: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    for name, sub in field_of(schema, "properties").items():
        if isinstance(sub, dict):
            errors.extend(_props(sub, key(child(path, "properties"), name),
                                 in_meta=in_meta or (name == "metadata")))
    for name in ("items", "additionalProperties", "not"):
        sub = schema.get(name)
        if isinstance(sub, dict):
            errors.extend(_props(sub, child(path, name), in_meta=in_meta))
    for name in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(list_of(schema, name)):
            if isinstance(sub, dict):
                errors.extend(_props(sub, index(child(path, name), i), in_meta=in_meta))
    return errors


def _map_type(schema: Schema, path: str) -> list[FieldError]:
    map_type = schema.get("x-kubernetes-map-type")
    if map_type is None:
        return []
    errors: list[FieldError] = []
    if not schema.get("type"):
        errors.append(required(child(path, "type"),
                               "must be object if x-kubernetes-map-type is specified"))
    elif schema["type"] != "object":
        errors.append(invalid(child(path, "type"), schema["type"],
                              "must be object if x-kubernetes-map-type is specified"))
    if map_type not in ("atomic", "granular"):
        errors.append(not_supported(child(path, "x-kubernetes-map-type"), map_type,
                                    ("atomic", "granular")))
    return errors


def _list_type(schema: Schema, path: str) -> list[FieldError]:
    list_type = schema.get("x-kubernetes-list-type")
    keys = list_of(schema, "x-kubernetes-list-map-keys")
    errors: list[FieldError] = []
    items = schema.get("items") if isinstance(schema.get("items"), dict) else None
    if list_type is not None:
        if not schema.get("type"):
            errors.append(required(child(path, "type"),
                                   "must be array if x-kubernetes-list-type is specified"))
        elif schema["type"] != "array":
            errors.append(invalid(child(path, "type"), schema["type"],
                                  "must be array if x-kubernetes-list-type is specified"))
        if list_type not in ("atomic", "set", "map"):
            errors.append(not_supported(child(path, "x-kubernetes-list-type"), list_type,
                                        ("atomic", "set", "map")))
    if list_type == "set" and items is not None:
        errors.extend(_set_items(items, path))
    if keys and list_type != "map":
        message = "must be map if x-kubernetes-list-map-keys is non-empty"
        errors.append(required(child(path, "x-kubernetes-list-type"), message)
                      if list_type is None else
                      invalid(child(path, "x-kubernetes-list-type"), list_type, message))
    if list_type == "map":
        errors.extend(_map_list(schema, items, keys, path))
    if list_type in ("set", "map") and items is not None and items.get("nullable"):
        errors.append(forbidden(child(path, "items", "nullable"),
                                f"cannot be nullable when x-kubernetes-list-type is {list_type}"))
    return errors


def _set_items(items: Schema, path: str) -> list[FieldError]:
    message = "must be atomic as item of a list with x-kubernetes-list-type=set"
    if items.get("type") == "object" and items.get("x-kubernetes-map-type") != "atomic":
        return [invalid(child(path, "items", "x-kubernetes-map-type"),
                        items.get("x-kubernetes-map-type"), message)]
    if items.get("type") == "array" and items.get("x-kubernetes-list-type") != "atomic":
        return [invalid(child(path, "items", "x-kubernetes-list-type"),
                        items.get("x-kubernetes-list-type"), message)]
    return []


def _map_list(schema: Schema, items: Schema | None, keys: list[Any],
              path: str) -> list[FieldError]:
    if not keys:
        return [required(child(path, "x-kubernetes-list-map-keys"),
                         "must not be empty if x-kubernetes-list-type is map")]
    if items is None:
        if isinstance(schema.get("items"), list):
            return [invalid(child(path, "items"), schema["items"],
                            "must only have a single schema if x-kubernetes-list-type is map")]
        return [required(child(path, "items"),
                         "must have a schema if x-kubernetes-list-type is map")]
    if items.get("type") != "object":
        return [invalid(child(path, "items", "type"), items.get("type"),
                        "must be object if parent array's x-kubernetes-list-type is map")]
    errors: list[FieldError] = []
    properties = field_of(items, "properties")
    if not all(isinstance(k, str) for k in keys):
        return [invalid(child(path, "x-kubernetes-list-map-keys"), keys,
                        "entries must all be names of item properties")]
    if len(set(keys)) != len(keys):
        errors.append(invalid(child(path, "x-kubernetes-list-map-keys"), keys,
                              "must not contain duplicate entries"))
    if any(k not in properties for k in keys):
        errors.append(invalid(child(path, "x-kubernetes-list-map-keys"), keys,
                              "entries must all be names of item properties"))
    required_keys = {k for k in list_of(items, "required") if isinstance(k, str)}
    for k in keys:
        prop = properties.get(k)
        if not isinstance(prop, dict):
            continue
        prop_path = key(child(path, "items", "properties"), k)
        if prop.get("type") not in ("string", "integer", "number", "boolean"):
            errors.append(invalid(child(prop_path, "type"), prop.get("type"), "must be a scalar "
                                  "type if parent array's x-kubernetes-list-type is map"))
        if "default" not in prop and k not in required_keys:
            errors.append(required(child(prop_path, "default"), "this property is in "
                                   "x-kubernetes-list-map-keys, so it must have a default or be "
                                   "a required property"))
        if prop.get("nullable"):
            errors.append(forbidden(child(prop_path, "nullable"), "this property is in "
                                    "x-kubernetes-list-map-keys, so it cannot be nullable"))
    return errors


def _validation_rules(schema: Schema, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for i, rule in enumerate(list_of(schema, "x-kubernetes-validations")):
        base = index(child(path, "x-kubernetes-validations"), i)
        if not isinstance(rule, dict):
            errors.append(invalid(base, rule, "must be an object"))
            continue
        text = rule.get("rule")
        if not isinstance(text, str) or not text.strip():
            errors.append(required(child(base, "rule"), "rule is not specified"))
        message = rule.get("message")
        if message is not None:
            if not str(message).strip():
                errors.append(invalid(child(base, "message"), message,
                                      "must be non-empty if specified"))
            elif "\n" in str(message):
                errors.append(invalid(child(base, "message"), message,
                                      "must not contain line breaks"))
        elif isinstance(text, str) and "\n" in text and not rule.get("messageExpression"):
            errors.append(required(child(base, "message"),
                                   "message must be specified if rule contains line breaks"))
        if "messageExpression" in rule and not str(rule.get("messageExpression") or "").strip():
            errors.append(required(child(base, "messageExpression"),
                                   "messageExpression must be non-empty if specified"))
        if "reason" in rule and rule["reason"] not in _REASONS:
            errors.append(not_supported(child(base, "reason"), rule["reason"], _REASONS))
        errors.extend(_rule_field_path(rule, base))
    return errors


def _rule_field_path(rule: dict[str, Any], base: str) -> list[FieldError]:
    if "fieldPath" not in rule:
        return []
    value = rule["fieldPath"]
    if not isinstance(value, str) or not value.strip():
        return [invalid(child(base, "fieldPath"), value, "must be non-empty if specified")]
    if "\n" in value:
        return [invalid(child(base, "fieldPath"), value, "must not contain line breaks")]
    return []


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
