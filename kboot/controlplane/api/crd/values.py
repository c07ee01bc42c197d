"""Validating a JSON value against a CRD's ``openAPIV3Schema`` as upstream does.

Upstream validates custom resources with kube-openapi's schema validator and converts its
errors to field errors (``apiextensions-apiserver/pkg/apiserver/validation``).  The messages
keep kube-openapi's wording with the body path inside them, e.g.
``spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer:
"string"`` (the quoted value of a type error is the JSON type of what was sent).  Every
validator that applies runs, so one field can carry several errors; ``required`` errors are
plain ``Required value``; ``enum`` is ``Unsupported value``; ``maxLength`` is ``Too long``;
``maxItems``/``maxProperties`` are ``Too many``; composite (``anyOf``/``oneOf``/``allOf``/``not``)
failures are reported at the root with the quoted path, as upstream does.

List types (``x-kubernetes-list-type: set|map``) are checked after the schema, like upstream's
``listtype`` validation: duplicates are ``Duplicate value`` at the item's index.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kboot.controlplane.api.crd.formats import format_ok
from kboot.controlplane.api.crd.numbers import go_number, is_number, json_type
from kboot.controlplane.api.crd.paths import child, field_of, index, list_of
from kboot.controlplane.api.crd.regex import compile_re2
from kboot.controlplane.api.field_errors import (
    TOO_LONG,
    TYPE_INVALID,
    FieldError,
    duplicate,
    invalid,
    not_supported,
    required,
    too_many,
)

Schema = dict[str, Any]
_NUMERIC = ("integer", "number")


def validate_value(schema: Schema, value: Any, path: str = "") -> list[FieldError]:
    """Errors of ``value`` against ``schema`` (``path`` is where ``value`` sits in the body)."""
    errors = _validate(schema, value, path)
    errors.extend(list_type_errors(schema, value, path))
    return errors


def _types(schema: Schema) -> list[str]:
    if schema.get("x-kubernetes-int-or-string"):
        return ["integer", "string"]
    declared = schema.get("type")
    return [declared] if isinstance(declared, str) and declared else []


def _validate(schema: Schema, value: Any, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if value is None:
        types = _types(schema)
        if types and not schema.get("nullable"):
            errors.append(_type_error(path, ",".join(types), "null"))
        errors.extend(_enum(schema, value, path))
        return errors
    errors.extend(_type(schema, value, path))
    errors.extend(_composite(schema, value, path))
    if isinstance(value, str):
        errors.extend(_string(schema, value, path))
    if is_number(value):
        errors.extend(_number(schema, value, path))
    if isinstance(value, list):
        errors.extend(_array(schema, value, path))
    errors.extend(_enum(schema, value, path))
    if isinstance(value, dict):
        errors.extend(_object(schema, value, path))
    return errors


def _name(path: str) -> str:
    return path or "."


def _type_error(path: str, expected: str, actual: str) -> FieldError:
    detail = f'{_name(path)} in body must be of type {expected}: "{actual}"'
    return FieldError(TYPE_INVALID, path, detail, actual)


def _type(schema: Schema, value: Any, path: str) -> list[FieldError]:
    types = _types(schema)
    if not types:
        return []
    actual = json_type(value)
    if actual in types:
        return []
    if actual == "number" and "integer" in types and float(value).is_integer():
        return []
    if actual == "integer" and "number" in types:
        return []
    return [_type_error(path, ",".join(types), actual)]


def _string(schema: Schema, value: str, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    name = _name(path)
    max_length = schema.get("maxLength")
    if isinstance(max_length, int) and len(value) > max_length:
        errors.append(FieldError(TOO_LONG, path, f"may not be more than {max_length} bytes", ""))
    min_length = schema.get("minLength")
    if isinstance(min_length, int) and len(value) < min_length:
        errors.append(invalid(path, value,
                              f"{name} in body should be at least {min_length} chars long"))
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and not _matches(pattern, value):
        errors.append(invalid(path, value, f"{name} in body should match '{pattern}'"))
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt and not format_ok(fmt, value):
        errors.append(FieldError(TYPE_INVALID, path,
                                 f'{name} in body must be of type {fmt}: "{value}"', value))
    return errors


def compiled_pattern(pattern: str) -> re.Pattern[str] | None:
    """The pattern (RE2 syntax, see :mod:`.regex`) compiled, or None when it does not compile."""
    return compile_re2(pattern)


def _matches(pattern: str, value: str) -> bool:
    compiled = compiled_pattern(pattern)
    return compiled is None or compiled.search(value) is not None


def _number(schema: Schema, value: float, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    name = _name(path)
    multiple: Any = schema.get("multipleOf")
    if is_number(multiple) and multiple > 0 and not _is_multiple(value, multiple):
        errors.append(invalid(path, value,
                              f"{name} in body should be a multiple of {go_number(multiple)}"))
    maximum: Any = schema.get("maximum")
    if is_number(maximum):
        if schema.get("exclusiveMaximum") and value >= maximum:
            errors.append(invalid(path, value, f"{name} in body should be less than "
                                               f"{go_number(float(maximum))}"))
        elif value > maximum:
            errors.append(invalid(path, value, f"{name} in body should be less than or equal to "
                                               f"{go_number(float(maximum))}"))
    minimum: Any = schema.get("minimum")
    if is_number(minimum):
        if schema.get("exclusiveMinimum") and value <= minimum:
            errors.append(invalid(path, value, f"{name} in body should be greater than "
                                               f"{go_number(float(minimum))}"))
        elif value < minimum:
            errors.append(invalid(path, value, f"{name} in body should be greater than or equal "
                                               f"to {go_number(float(minimum))}"))
    return errors


def _is_multiple(value: float, factor: float) -> bool:
    if isinstance(value, int) and isinstance(factor, int):
        return value % factor == 0
    quotient = value / factor
    return abs(quotient - round(quotient)) < 1e-9


def _array(schema: Schema, value: list[Any], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    name = _name(path)
    min_items = schema.get("minItems")
    if isinstance(min_items, int) and len(value) < min_items:
        errors.append(invalid(path, len(value), f"{name} in body should have at least "
                                                f"{min_items} items"))
    max_items = schema.get("maxItems")
    if isinstance(max_items, int) and len(value) > max_items:
        errors.append(too_many(path, len(value), max_items))
    if schema.get("uniqueItems") and len({_canonical(v) for v in value}) < len(value):
        errors.append(invalid(path, "", f"{name} in body shouldn't contain duplicates"))
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            errors.extend(_validate(items, item, index(path, i)))
    return errors


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _enum(schema: Schema, value: Any, path: str) -> list[FieldError]:
    options = schema.get("enum")
    if not isinstance(options, list) or not options:
        return []
    if any(_json_equal(value, option) for option in options):
        return []
    listed = [o if isinstance(o, str) else json.dumps(o) for o in options]
    return [not_supported(path, value, listed)]


def _json_equal(a: Any, b: Any) -> bool:
    if is_number(a) and is_number(b):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    return _canonical(a) == _canonical(b)


def _object(schema: Schema, value: dict[str, Any], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    name = _name(path)
    min_props = schema.get("minProperties")
    if isinstance(min_props, int) and len(value) < min_props:
        errors.append(invalid(path, len(value), f"{name} in body should have at least "
                                                f"{min_props} properties"))
    max_props = schema.get("maxProperties")
    if isinstance(max_props, int) and len(value) > max_props:
        errors.append(too_many(path, len(value), max_props))
    for key in list_of(schema, "required"):
        if isinstance(key, str) and key not in value:
            errors.append(required(child(path, key)))
    properties = field_of(schema, "properties")
    additional = schema.get("additionalProperties")
    for key, item in value.items():
        sub = properties.get(key)
        if isinstance(sub, dict):
            errors.extend(_validate(sub, item, child(path, key)))
        elif isinstance(additional, dict):
            errors.extend(_validate(additional, item, child(path, key)))
    return errors


def _fewest(results: list[list[FieldError]]) -> list[FieldError]:
    return min(results, key=lambda r: len(r))


def _composite(schema: Schema, value: Any, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    quoted = json.dumps(_name(path))
    all_of = [s for s in list_of(schema, "allOf") if isinstance(s, dict)]
    if all_of:
        results = [_validate(s, value, path) for s in all_of]
        for result in results:
            errors.extend(result)
        failed = sum(1 for r in results if r)
        if failed:
            none = ". None validated" if failed == len(results) else ""
            errors.append(invalid("", "", f"{quoted} must validate all the schemas (allOf)"
                                          f"{none}"))
    any_of = [s for s in list_of(schema, "anyOf") if isinstance(s, dict)]
    if any_of:
        results = [_validate(s, value, path) for s in any_of]
        if all(results):
            errors.append(invalid("", "", f"{quoted} must validate at least one schema (anyOf)"))
            errors.extend(_fewest(results))
    one_of = [s for s in list_of(schema, "oneOf") if isinstance(s, dict)]
    if one_of:
        results = [_validate(s, value, path) for s in one_of]
        valid = sum(1 for r in results if not r)
        if valid != 1:
            extra = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
            errors.append(invalid("", "", f"{quoted} must validate one and only one schema "
                                          f"(oneOf). {extra}"))
            if valid == 0:
                errors.extend(_fewest(results))
    negated = schema.get("not")
    if isinstance(negated, dict) and not _validate(negated, value, path):
        errors.append(invalid("", "", f"{quoted} must not validate the schema (not)"))
    return errors


# ------------------------------------------------------------------------------ list types


def list_type_errors(schema: Schema, value: Any, path: str) -> list[FieldError]:
    """``x-kubernetes-list-type`` set/map uniqueness, everywhere in ``value``."""
    errors: list[FieldError] = []
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else None
        kind = schema.get("x-kubernetes-list-type")
        if kind == "set":
            errors.extend(_set_duplicates(value, path))
        elif kind == "map":
            keys = [k for k in list_of(schema, "x-kubernetes-list-map-keys")
                    if isinstance(k, str)]
            errors.extend(_map_duplicates(value, keys, items or {}, path))
        if items is not None:
            for i, item in enumerate(value):
                errors.extend(list_type_errors(items, item, index(path, i)))
    elif isinstance(value, dict):
        properties = field_of(schema, "properties")
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, additional)
            if isinstance(sub, dict):
                errors.extend(list_type_errors(sub, item, child(path, key)))
    return errors


def _set_duplicates(value: list[Any], path: str) -> list[FieldError]:
    seen: set[str] = set()
    errors: list[FieldError] = []
    for i, item in enumerate(value):
        canonical = _canonical(item)
        if canonical in seen:
            errors.append(duplicate(index(path, i), item))
        seen.add(canonical)
    return errors


def _map_duplicates(value: list[Any], keys: list[str], items: Schema,
                    path: str) -> list[FieldError]:
    for i, item in enumerate(value):
        if item is not None and not isinstance(item, dict):
            return [invalid(index(path, i), item,
                            "must be an object for an array of list-type map")]
    seen: set[str] = set()
    errors: list[FieldError] = []
    properties = field_of(items, "properties")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            continue
        entry = {}
        for k in keys:
            if k in item:
                entry[k] = item[k]
            elif isinstance(properties.get(k), dict) and "default" in properties[k]:
                entry[k] = properties[k]["default"]
        canonical = _canonical(entry)
        if canonical in seen:
            errors.append(duplicate(index(path, i), entry))
        seen.add(canonical)
    return errors
