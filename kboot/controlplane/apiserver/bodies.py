"""Request bodies that are not stored kinds — ``Scale``, ``Binding``, ``Eviction``,
``DeleteOptions`` — decoded by their schema like any object (:mod:`kboot.controlplane.api.typed`).

Handlers used to read such bodies with ``body.get("spec") or {}``, which a list, a string or a
``null`` in the wrong place turned into an ``AttributeError`` and a 500.  :func:`typed_body`
refuses them first: 400 when the body is not an object at all, 422 naming each mistyped field.
"""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api import typed
from kboot.controlplane.api.field_errors import FieldError, invalid_message
from kboot.controlplane.api.schemas import definitions, extra_definition_name
from kboot.controlplane.apiserver.errors import JsonObj, StatusError, bad_request


def invalid_body(kind: str, name: str, errors: list[FieldError], *,
                 group: str = "") -> StatusError:
    """A 422 ``Invalid`` for ``errors`` in a ``kind`` body (causes name the fields)."""
    details: JsonObj = {"name": name, "kind": kind,
                        "causes": [e.cause() for e in errors]}
    if group:
        details["group"] = group
    return StatusError(422, "Invalid", invalid_message(kind, name, errors), details=details)


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type (for messages)."""
    if value is None:
        return "null"
    for python, name in ((bool, "boolean"), (dict, "object"), (list, "array"), (str, "string"),
                         (int, "number"), (float, "number")):
        if isinstance(value, python):
            return name
    return type(value).__name__


def typed_body(extra: str, value: Any, *, name: str = "", group: str = "") -> JsonObj:
    """``value`` decoded as the ``extra`` type (``Scale``...): nulls dropped, types checked."""
    if not isinstance(value, dict):
        raise bad_request(f"the body of the request must be a {extra} object, "
                          f"not {json_type(value)}")
    decoded = typed.decode_as(definitions()[extra_definition_name(extra)], value)
    if decoded.errors:
        raise invalid_body(extra, name, decoded.errors, group=group)
    return decoded.obj
