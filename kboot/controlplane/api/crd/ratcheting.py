"""Validation ratcheting: an update is not refused for what it did not change.

Kubernetes 1.32 has ``CRDValidationRatcheting`` on (beta, default): when a CRD's schema or rules
tighten, existing objects must stay updatable — ``kubectl label`` on an object that no longer
validates must not fail on its untouched ``spec``.  Upstream drops the errors of every schema
node whose value is unchanged from the old object, correlating nodes through object fields and
``x-kubernetes-list-type: map`` items (by key); items of other lists are not correlated, so
they ratchet only when their whole list is unchanged.  CEL rules ratchet the same way, except
transition rules (those using ``oldSelf``), which always apply.

:func:`ratchet` keeps the errors that touch a changed node.
"""

from __future__ import annotations

import re
from typing import Any

from kboot.controlplane.api.crd.paths import field_of, list_of
from kboot.controlplane.api.field_errors import FieldError

Schema = dict[str, Any]
_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def ratchet(errors: list[FieldError], schema: Schema, new: Any, old: Any) -> list[FieldError]:
    """The errors of ``new`` that are not on a node unchanged since ``old``."""
    return [e for e in errors if not _unchanged_along(e.field, schema, new, old)]


def _unchanged_along(path: str, schema: Schema, new: Any, old: Any) -> bool:
    """Whether some node from the root down to ``path`` is correlated and unchanged."""
    node_schema: Schema = schema
    for index, name in _TOKEN.findall(path):
        if index:
            new, old, node_schema, found = _item(node_schema, new, old, int(index))
        else:
            new, old, node_schema, found = _field(node_schema, new, old, name)
        if not found:
            return False
        if new == old:
            return True
    return False


def _field(schema: Schema, new: Any, old: Any, name: str) -> tuple[Any, Any, Schema, bool]:
    if not (isinstance(new, dict) and isinstance(old, dict) and name in new and name in old):
        return None, None, {}, False
    sub = field_of(field_of(schema, "properties"), name) or field_of(
        schema, "additionalProperties")
    return new[name], old[name], sub, True


def _item(schema: Schema, new: Any, old: Any, i: int) -> tuple[Any, Any, Schema, bool]:
    keys = [k for k in list_of(schema, "x-kubernetes-list-map-keys") if isinstance(k, str)]
    if schema.get("x-kubernetes-list-type") != "map" or not keys:
        return None, None, {}, False
    if not (isinstance(new, list) and isinstance(old, list) and i < len(new)):
        return None, None, {}, False
    item = new[i]
    if not isinstance(item, dict):
        return None, None, {}, False
    wanted = [item.get(k) for k in keys]
    match = next((o for o in old if isinstance(o, dict) and [o.get(k) for k in keys] == wanted),
                 None)
    return item, match, field_of(schema, "items"), match is not None
