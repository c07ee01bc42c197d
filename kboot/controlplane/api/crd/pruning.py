"""Pruning: dropping the fields a structural schema does not declare, as upstream stores CRs.

Upstream (``pkg/apiserver/schema/pruning``) walks the object with the schema: an object's keys
not in ``properties`` are removed unless ``x-kubernetes-preserve-unknown-fields`` is set (or
``additionalProperties`` declares them); ``items`` and ``additionalProperties`` are walked
recursively.  At the resource root and in ``x-kubernetes-embedded-resource`` objects,
``apiVersion``, ``kind`` and ``metadata`` are always kept, and ``metadata`` keeps exactly the
ObjectMeta fields (upstream's ``objectmeta.Coerce`` drops the rest).

:func:`prune` changes the object in place and returns the removed paths
(``spec.foo``, ``spec.items[0].bar``) in the order met: the apiserver answers them as
``unknown field "spec.foo"`` — an error under ``fieldValidation=Strict``, warnings under
``Warn`` (the default for kubectl), nothing under ``Ignore``.
"""

from __future__ import annotations

import copy
from typing import Any

from kboot.controlplane.api.crd.paths import child, field_of, index

Schema = dict[str, Any]

META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
})
"""ObjectMeta's fields: the only keys a custom resource's ``metadata`` keeps."""

_TYPE_META = ("apiVersion", "kind", "metadata")


def prune(obj: dict[str, Any], schema: Schema) -> list[str]:
    """Prune a whole custom resource (the root counts as an embedded resource)."""
    removed: list[str] = []
    _object(obj, schema, "", removed, resource=True)
    return removed


def unknown_fields(obj: dict[str, Any], schema: Schema) -> list[str]:
    """The paths :func:`prune` would remove, without changing ``obj``."""
    return prune(copy.deepcopy(obj), schema)


def prune_value(value: Any, schema: Schema, path: str = "") -> list[str]:
    """Prune a value below the root (e.g. a default); returns the removed paths."""
    removed: list[str] = []
    _walk(value, schema, path, removed)
    return removed


def _walk(value: Any, schema: Schema, path: str, removed: list[str]) -> None:
    if isinstance(value, dict):
        _object(value, schema, path, removed,
                resource=bool(schema.get("x-kubernetes-embedded-resource")))
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _walk(item, items, index(path, i), removed)


def _object(obj: dict[str, Any], schema: Schema, path: str, removed: list[str], *,
            resource: bool) -> None:
    properties = field_of(schema, "properties")
    additional = schema.get("additionalProperties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    for name in list(obj):
        here = child(path, name)
        if resource and name in _TYPE_META:
            if name == "metadata" and isinstance(obj[name], dict):
                _metadata(obj[name], here, removed)
            continue
        sub = properties.get(name)
        if isinstance(sub, dict):
            _walk(obj[name], sub, here, removed)
        elif isinstance(additional, dict):
            _walk(obj[name], additional, here, removed)
        elif not preserve and additional is not True:
            del obj[name]
            removed.append(here)


def _metadata(meta: dict[str, Any], path: str, removed: list[str]) -> None:
    for name in list(meta):
        if name not in META_FIELDS:
            del meta[name]
            removed.append(child(path, name))
