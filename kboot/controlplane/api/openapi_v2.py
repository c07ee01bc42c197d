"""The ``/openapi/v2`` document (Swagger 2.0), built from the same per-kind schemas as v3.

kubectl 1.32 and Helm validate client-side (``--validate=strict``, the default) from
``/openapi/v2`` whenever ``/openapi/v3`` does not describe the object's group-version-kind — a
kind nobody serves, typically.  Without v2 the user sees "failed to download openapi" / "the
server could not find the requested resource" instead of the kind's name.  client-go asks for
the protobuf form only (``application/com.github.proto-openapi.spec.v2@v1.0+protobuf``, see
:mod:`.openapi_v2_proto`); JSON is served to everyone else.

The document carries every served kind's definitions (with ``x-kubernetes-group-version-kind``)
and every type they reach; ``paths`` stays empty: clients read operations from v3.  Kinds
registered at run time join through ``extra`` (their v3 schemas through :func:`from_v3`; the
apiserver's ``openapidocs.v2`` does it per registry generation).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from kboot.controlplane.api.openapi import reachable
from kboot.controlplane.api.registry import KINDS
from kboot.controlplane.api.schemas import (
    definition_name,
    definitions,
    extra_definition_name,
    list_definition_name,
)

Doc = dict[str, Any]
PROTOBUF_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_PROTOBUF_TYPES = (PROTOBUF_TYPE, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
_PREFIX = "#/definitions/"
_VERSION = "v1.32.0"


def _convert(schema: Any) -> Any:
    """Internal schema → Swagger 2: bare refs become ``#/definitions/…``."""
    if isinstance(schema, list):
        return [_convert(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _convert(v) for k, v in schema.items()}
    if isinstance(schema.get("$ref"), str) and not schema["$ref"].startswith("#"):
        out["$ref"] = _PREFIX + schema["$ref"]
    return out


@cache
def _builtin_definitions() -> Mapping[str, Any]:
    roots = [definition_name(rk) for rk in KINDS] + [list_definition_name(rk) for rk in KINDS]
    roots += [extra_definition_name(n) for n in ("Status", "DeleteOptions", "WatchEvent",
                                                 "Scale")]
    return {name: _convert(definitions()[name]) for name in reachable(roots)}


def openapi_v2_document(extra: Mapping[str, Any] | None = None) -> Doc:
    """The whole Swagger 2.0 document: built-in kinds plus ``extra`` definitions."""
    defs = dict(_builtin_definitions())
    defs.update(extra or {})
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": _VERSION},
        "paths": {},
        "definitions": dict(sorted(defs.items())),
        "securityDefinitions": {"BearerToken": {"type": "apiKey", "name": "authorization",
                                                "in": "header",
                                                "description": "Bearer Token authentication"}},
        "security": [{"BearerToken": []}],
    }


_V3_PREFIX = "#/components/schemas/"
_V2_ONLY_DROPS = ("nullable", "anyOf", "oneOf", "not", "x-kubernetes-validations")


def from_v3(schema: Any) -> Any:
    """An OpenAPI 3 schema (a run-time kind's, a CRD's) as Swagger 2.0 says it: refs under
    ``#/definitions/``, ``allOf: [{$ref}]`` wrappers unwrapped, and what 2.0 cannot say dropped
    as upstream's ``ToStructuralOpenAPIV2`` does (``nullable``, ``anyOf``/``oneOf``/``not``,
    CEL rules, the type of int-or-string fields)."""
    if isinstance(schema, list):
        return [from_v3(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: from_v3(v) for k, v in schema.items() if k not in _V2_ONLY_DROPS}
    all_of = out.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict) \
            and set(all_of[0]) == {"$ref"}:
        out.pop("allOf")
        out["$ref"] = all_of[0]["$ref"]
    elif "allOf" in out:
        out.pop("allOf")
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith(_V3_PREFIX):
        out["$ref"] = _PREFIX + ref.removeprefix(_V3_PREFIX)
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    return out


def list_definition(group: str, version: str, kind: str, ref: str) -> Doc:
    """The Swagger 2.0 definition of ``<kind>List`` whose items are definition ``ref``."""
    return {"type": "object", "required": ["items"],
            "description": f"{kind}List is a list of {kind}",
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                           "items": {"type": "array", "items": {"$ref": _PREFIX + ref}},
                           "metadata": {"$ref": _PREFIX + "io.k8s.apimachinery.pkg.apis.meta."
                                                          "v1.ListMeta"}},
            "x-kubernetes-group-version-kind": [{"group": group, "version": version,
                                                 "kind": f"{kind}List"}]}


def serialize(doc: Doc) -> tuple[bytes, bytes]:
    """A document as (JSON, gnostic protobuf) bodies."""
    from kboot.controlplane.api.openapi_v2_proto import encode_document
    return json.dumps(doc, separators=(",", ":")).encode(), encode_document(doc)


def wants_protobuf(accept: str) -> bool:
    """Content negotiation as upstream's handler: the most preferred of JSON and protobuf (the
    deprecated ``…v2@v1.0+protobuf`` spelling too, which client-go sends); the answer is
    always labelled :data:`PROTOBUF_TYPE` (a ``@`` is not valid in a Content-Type)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media.strip() in (*_PROTOBUF_TYPES, "application/json", "*/*", "application/*"):
            ranked.append((-quality, position, media.strip()))
    return bool(ranked) and min(ranked)[2] in _PROTOBUF_TYPES and min(ranked)[0] < 0


@cache
def builtin_document_bytes() -> tuple[bytes, bytes]:
    """The built-in kinds' document as (JSON, protobuf), serialized once."""
    return serialize(openapi_v2_document())
