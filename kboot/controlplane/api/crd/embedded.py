"""``x-kubernetes-embedded-resource`` objects (pod templates in a CR, say): upstream's
``objectmeta.Validate`` below the resource root.

An embedded resource must say ``apiVersion`` (a group/version) and ``kind`` (mixed-case
DNS-1035); its ``metadata``, when present, is validated as ObjectMeta with the looser name rule
of path segments (no ``/``, ``%``, ``.`` or ``..``), since templates carry names that are not
DNS names, plus namespace, labels and annotations.  Fields under ``additionalProperties`` are
addressed ``[key]`` here, as upstream.
"""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api import names
from kboot.controlplane.api.crd.paths import child, field_of, index, key
from kboot.controlplane.api.field_errors import FieldError, invalid, required
from kboot.controlplane.api.validation import validate_labels

Schema = dict[str, Any]


def embedded_errors(schema: Schema, value: Any, path: str) -> list[FieldError]:
    """Errors of every embedded resource inside ``value`` (the root itself is not one here:
    its metadata is the object's own, validated by the caller)."""
    errors: list[FieldError] = []
    if isinstance(value, dict):
        if path and schema.get("x-kubernetes-embedded-resource"):
            errors.extend(_embedded(value, path))
        props = field_of(schema, "properties")
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            if not path and name == "metadata":
                continue
            if isinstance(props.get(name), dict):
                errors.extend(embedded_errors(props[name], item, child(path, name)))
            elif isinstance(extra, dict):
                errors.extend(embedded_errors(extra, item, key(path, name)))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors.extend(embedded_errors(schema["items"], item, index(path, i)))
    return errors


def _embedded(value: dict[str, Any], path: str) -> list[FieldError]:
    errors = [required(child(path, name), "must not be empty")
              for name in ("apiVersion", "kind") if name not in value]
    if "apiVersion" in value:
        errors.extend(_api_version(value["apiVersion"], child(path, "apiVersion")))
    if "kind" in value:
        errors.extend(_kind(value["kind"], child(path, "kind")))
    if "metadata" in value:
        errors.extend(_metadata(value["metadata"], child(path, "metadata")))
    return errors


def _api_version(value: Any, path: str) -> list[FieldError]:
    if not isinstance(value, str):
        return [invalid(path, value, "must be a string")]
    if not value:
        return [invalid(path, value, "must not be empty")]
    if value.count("/") > 1:
        return [invalid(path, value, f"unexpected GroupVersion string: {value}")]
    return []


def _kind(value: Any, path: str) -> list[FieldError]:
    if not isinstance(value, str):
        return [invalid(path, value, "must be a string")]
    if not value:
        return [invalid(path, value, "must not be empty")]
    problems = names.is_dns1035_label(value.lower())
    if problems:
        return [invalid(path, value, "may have mixed case, but should otherwise match: "
                        + ",".join(problems))]
    return []


def _metadata(meta: Any, path: str) -> list[FieldError]:
    if not isinstance(meta, dict):
        return [invalid(path, meta, "must be an object")]
    errors: list[FieldError] = []
    for field in ("name", "generateName"):
        value = meta.get(field)
        if isinstance(value, str) and value:
            errors.extend(invalid(child(path, field), value, e)
                          for e in names.is_path_segment_name(value))
    namespace = meta.get("namespace")
    if isinstance(namespace, str) and namespace:
        errors.extend(invalid(child(path, "namespace"), namespace, e)
                      for e in names.is_dns1123_label(namespace))
    errors.extend(validate_labels(field_of(meta, "labels"), child(path, "labels")))
    for annotation in field_of(meta, "annotations"):
        errors.extend(invalid(child(path, "annotations"), annotation, e)
                      for e in names.is_qualified_name(str(annotation)))
    return errors
