"""Per-keyword CRD schema rules (upstream ``ValidateCustomResourceDefinitionOpenAPISchema``).

Each keyword is judged where it stands, before structural rules look at the shape: allowed
types, keywords Kubernetes does not support (``$ref``, ``definitions``, ``patternProperties``,
…), ``uniqueItems``, ``additionalProperties`` beside ``properties``, RE2 patterns, the
``x-kubernetes-map-type``/``x-kubernetes-list-type``/``x-kubernetes-list-map-keys`` extensions
and the shape of ``x-kubernetes-validations`` entries (their CEL is compiled by :mod:`.cel`).
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
_UNSUPPORTED = (("id", "id is not supported"),
                ("additionalItems", "additionalItems is not supported"),
                ("patternProperties", "patternProperties is not supported"),
                ("definitions", "definitions is not supported"),
                ("dependencies", "dependencies is not supported"),
                ("$ref", "$ref is not supported"))
_REASONS = ("FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid",
            "FieldValueRequired")


def keyword_errors(schema: Schema, path: str, *, in_meta: bool) -> list[FieldError]:
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
            errors.extend(keyword_errors(sub, key(child(path, "properties"), name),
                                 in_meta=in_meta or (name == "metadata")))
    for name in ("items", "additionalProperties", "not"):
        sub = schema.get(name)
        if isinstance(sub, dict):
            errors.extend(keyword_errors(sub, child(path, name), in_meta=in_meta))
    for name in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(list_of(schema, name)):
            if isinstance(sub, dict):
                errors.extend(keyword_errors(sub, index(child(path, name), i), in_meta=in_meta))
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
