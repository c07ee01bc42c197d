"""Defaulting from a structural schema's ``default`` values, as upstream applies them.

Upstream (``pkg/apiserver/schema/defaulting``) defaults on every write *and* on every read from
storage (after pruning), so objects stored before a default was added read with it.  A property
is defaulted when it is missing — or null and not ``nullable`` — and its schema has a
``default``; the default is copied (never shared) and walked again so that defaults inside it
apply too.  Nulls of non-nullable fields without a default are dropped (upstream's
``PruneNonNullableNullsWithoutDefaults``), so a ``null`` never fails validation where leaving
the field out would pass.
"""

from __future__ import annotations

import copy
from typing import Any

from kboot.controlplane.api.crd.paths import field_of

Schema = dict[str, Any]


def apply_defaults(value: Any, schema: Schema) -> None:
    """Default ``value`` in place from ``schema`` (objects and lists are walked)."""
    if isinstance(value, dict):
        _object(value, schema)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                if item is None and "default" in items and not items.get("nullable"):
                    value[i] = copy.deepcopy(items["default"])
                apply_defaults(value[i], items)


def _object(obj: dict[str, Any], schema: Schema) -> None:
    properties = field_of(schema, "properties")
    for name, sub in properties.items():
        if not isinstance(sub, dict):
            continue
        missing = name not in obj or (obj[name] is None and not sub.get("nullable"))
        if missing and "default" in sub:
            obj[name] = copy.deepcopy(sub["default"])
        elif name in obj and obj[name] is None and not sub.get("nullable"):
            del obj[name]
    additional = schema.get("additionalProperties")
    for name, item in list(obj.items()):
        sub = properties.get(name)
        if not isinstance(sub, dict) and isinstance(additional, dict):
            sub = additional
            if item is None and not sub.get("nullable"):
                if "default" in sub:
                    obj[name] = copy.deepcopy(sub["default"])
                else:
                    del obj[name]
                    continue
        if isinstance(sub, dict):
            apply_defaults(obj[name], sub)
