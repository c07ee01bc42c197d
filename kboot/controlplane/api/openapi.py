"""The ``/openapi/v3`` documents, built from the per-kind schemas.

- :func:`openapi_root` is the body of ``GET /openapi/v3``: one ``serverRelativeURL`` per
  group-version, carrying the document's hash (clients cache documents by it).
- :func:`openapi_document` is the body of ``GET /openapi/v3/<api/v1|apis/g/v>``:
  ``components.schemas`` (every type reachable from the group-version's kinds, named like
  upstream, top-level kinds carrying ``x-kubernetes-group-version-kind``; descriptions feed
  ``kubectl explain``) and ``paths`` with list/create/get/replace/patch/delete operations and
  their query parameters.

kubectl's ``apply``/``create`` check for a PATCH operation tagged with the object's GVK that
lists a ``fieldValidation`` query parameter; without it (a kind nobody serves) they fall back
to client-side validation through ``/openapi/v2`` (:mod:`.openapi_v2`).  Documents are
immutable: they are built once and shared (callers must not mutate them; use
:func:`openapi_document_bytes`).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

from kboot.controlplane.api.registry import KINDS, ResourceKind
from kboot.controlplane.api.schemas import (
    definition_name,
    definitions,
    extra_definition_name,
    list_definition_name,
)

Doc = dict[str, Any]
_PREFIX = "#/components/schemas/"
_VERSION = "v1.32.0"
PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json",
               "application/merge-patch+json", "application/strategic-merge-patch+json")


def gv_path(rk: ResourceKind) -> str:
    """``api/v1`` or ``apis/<group>/<version>``: the key in the root document."""
    return f"apis/{rk.group}/{rk.version}" if rk.group else f"api/{rk.version}"


def _normalize(group_version: str) -> str:
    gv = group_version.strip("/")
    if gv.startswith(("api/", "apis/")):
        return gv
    return f"apis/{gv}" if "/" in gv else f"api/{gv}"


def _kinds_in(path: str) -> list[ResourceKind]:
    return [rk for rk in KINDS if gv_path(rk) == path]


# ---------------------------------------------------------------------------------- schemas


def _convert(schema: Any) -> Any:
    """Internal schema → OpenAPI 3: bare refs become ``#/components/schemas/…`` (wrapped in
    ``allOf`` when the property also has a description, as upstream does)."""
    if isinstance(schema, list):
        return [_convert(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        ref = {"$ref": _PREFIX + schema["$ref"]}
        rest = {k: _convert(v) for k, v in schema.items() if k != "$ref"}
        return {"allOf": [ref], **rest} if rest else ref
    return {k: _convert(v) for k, v in schema.items()}


def _closure(roots: list[str]) -> list[str]:
    defs = definitions()
    seen: list[str] = []
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.append(name)
        stack.extend(_refs(defs[name]))
    return sorted(seen)


def reachable(roots: list[str]) -> list[str]:
    """Every definition name ``roots`` reach through ``$ref`` (sorted), the roots included."""
    return _closure(roots)


def _refs(schema: Any) -> list[str]:
    if isinstance(schema, list):
        return [r for s in schema for r in _refs(s)]
    if not isinstance(schema, dict):
        return []
    own = [schema["$ref"]] if isinstance(schema.get("$ref"), str) else []
    return own + [r for v in schema.values() for r in _refs(v)]


# ----------------------------------------------------------------------------- operations


def _param(name: str, type_: str, description: str, *, location: str = "query") -> Doc:
    out: Doc = {"name": name, "in": location, "description": description,
                "schema": {"type": type_, "uniqueItems": True}}
    if location == "path":
        out["required"] = True
    return out


_PRETTY = _param("pretty", "string", "If 'true', then the output is pretty printed.")
_DRY_RUN = _param("dryRun", "string", "When present, indicates that modifications should not be "
                                      "persisted. Valid values are: - All: all dry run stages "
                                      "will be processed")
_FIELD_MANAGER = _param("fieldManager", "string", "fieldManager is a name associated with the "
                                                  "actor or entity that is making these changes.")
_FIELD_VALIDATION = _param(
    "fieldValidation", "string",
    "fieldValidation instructs the server on how to handle objects in the request containing "
    "unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict")
_FORCE = _param("force", "boolean", "Force is going to \"force\" Apply requests. It means user "
                                    "will re-acquire conflicting fields owned by other people.")
_LIST_PARAMS = [
    _param("allowWatchBookmarks", "boolean", "requests watch events with type \"BOOKMARK\"."),
    _param("continue", "string", "The continue option should be set when retrieving more "
                                 "results from the server."),
    _param("fieldSelector", "string", "A selector to restrict the list of returned objects by "
                                      "their fields. Defaults to everything."),
    _param("labelSelector", "string", "A selector to restrict the list of returned objects by "
                                      "their labels. Defaults to everything."),
    _param("limit", "integer", "limit is a maximum number of responses to return for a list "
                               "call."),
    _param("resourceVersion", "string", "resourceVersion sets a constraint on what resource "
                                        "versions a request may be served from."),
    _param("resourceVersionMatch", "string", "resourceVersionMatch determines how "
                                             "resourceVersion is applied to list calls."),
    _param("timeoutSeconds", "integer", "Timeout for the list/watch call."),
    _param("watch", "boolean", "Watch for changes to the described resources and return them "
                               "as a stream of add, update, and remove notifications."),
]
_DELETE_PARAMS = [
    _DRY_RUN,
    _param("gracePeriodSeconds", "integer", "The duration in seconds before the object should "
                                            "be deleted."),
    _param("propagationPolicy", "string", "Whether and how garbage collection will be "
                                          "performed: 'Orphan', 'Background' or 'Foreground'."),
]


def _json(ref: str) -> Doc:
    return {"content": {"application/json": {"schema": {"$ref": _PREFIX + ref}}}}


def _responses(ref: str, *codes: str) -> Doc:
    out: Doc = {code: {"description": {"200": "OK", "201": "Created", "202": "Accepted"}[code],
                       **_json(ref)} for code in codes}
    out["401"] = {"description": "Unauthorized"}
    return out


def _op(rk: ResourceKind, action: str, verb: str, *, body: str | None, params: list[Doc],
        response: str, codes: tuple[str, ...], gvk: Doc | None = None,
        suffix: str = "") -> Doc:
    scope = "Namespaced" if rk.namespaced and verb != "listAll" else ""
    group = "".join(p.capitalize() for p in (rk.group.split(".")[0] or "core", rk.version))
    name = verb if verb != "listAll" else "list"
    op_id = f"{name}{group}{scope}{rk.kind}{suffix}" + ("ForAllNamespaces"
                                                        if verb == "listAll" else "")
    out: Doc = {
        "tags": [f"{rk.group.split('.')[0] or 'core'}_{rk.version}"],
        "description": f"{action} {rk.kind}{' ' + suffix.lower() if suffix else ''}",
        "operationId": op_id,
        "parameters": [_PRETTY, *params],
        "responses": _responses(response, *codes),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk or {"group": rk.group, "version": rk.version,
                                                   "kind": rk.kind},
    }
    if body == "patch":
        schema = {"$ref": _PREFIX + "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}
        out["requestBody"] = {"required": True,
                              "content": {t: {"schema": schema} for t in PATCH_TYPES}}
    elif body is not None:
        out["requestBody"] = {"required": True, **_json(body)}
    return out


def _object_ops(rk: ResourceKind, ref: str, *, suffix: str = "",
                gvk: Doc | None = None) -> Doc:
    write = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION]
    ops: Doc = {
        "get": _op(rk, "get", "read", body=None, params=[], response=ref, codes=("200",),
                   suffix=suffix, gvk=gvk),
        "put": _op(rk, "put", "replace", body=ref, params=write, response=ref,
                   codes=("200", "201"), suffix=suffix, gvk=gvk),
        "patch": _op(rk, "patch", "patch", body="patch", params=[*write, _FORCE], response=ref,
                     codes=("200", "201"), suffix=suffix, gvk=gvk),
    }
    if not suffix:
        status = extra_definition_name("Status")
        ops["delete"] = _op(rk, "delete", "delete", body=extra_definition_name("DeleteOptions"),
                            params=_DELETE_PARAMS, response=status, codes=("200", "202"))
        ops["delete"]["requestBody"]["required"] = False
    return ops


def _paths(rk: ResourceKind, refs: tuple[str, str] | None = None) -> Doc:
    """Operations of a kind; ``refs`` names its object and list schemas (default: the
    built-in definitions)."""
    base = "/" + gv_path(rk)
    ns = "/namespaces/{namespace}" if rk.namespaced else ""
    ns_param = [_param("namespace", "string", "object name and auth scope, such as for teams "
                                              "and projects", location="path")] if ns else []
    name_param = [_param("name", "string", f"name of the {rk.kind}", location="path")]
    ref, list_ref = refs or (definition_name(rk), list_definition_name(rk))
    collection: Doc = {
        "get": _op(rk, "list", "list", body=None, params=_LIST_PARAMS, response=list_ref,
                   codes=("200",)),
        "post": _op(rk, "post", "create", body=ref,
                    params=[_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION], response=ref,
                    codes=("200", "201", "202")),
        "delete": _op(rk, "deletecollection", "deleteCollection",
                      body=extra_definition_name("DeleteOptions"),
                      params=[*_LIST_PARAMS, *_DELETE_PARAMS],
                      response=extra_definition_name("Status"), codes=("200",)),
        "parameters": ns_param,
    }
    collection["delete"]["requestBody"]["required"] = False
    item = {**_object_ops(rk, ref), "parameters": [*name_param, *ns_param]}
    paths: Doc = {f"{base}{ns}/{rk.plural}": collection, f"{base}{ns}/{rk.plural}/{{name}}": item}
    if rk.namespaced:
        paths[f"{base}/{rk.plural}"] = {"get": _op(rk, "list", "listAll", body=None,
                                                   params=_LIST_PARAMS, response=list_ref,
                                                   codes=("200",))}
    if "status" in rk.subresources:
        paths[f"{base}{ns}/{rk.plural}/{{name}}/status"] = {
            **_object_ops(rk, ref, suffix="Status"), "parameters": [*name_param, *ns_param]}
    if "scale" in rk.subresources:
        scale = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
        paths[f"{base}{ns}/{rk.plural}/{{name}}/scale"] = {
            **_object_ops(rk, extra_definition_name("Scale"), suffix="Scale", gvk=scale),
            "parameters": [*name_param, *ns_param]}
    return paths


# -------------------------------------------------------------------------------- documents


def _build(path: str) -> Doc | None:
    kinds = _kinds_in(path)
    if not kinds:
        return None
    roots = [definition_name(rk) for rk in kinds] + [list_definition_name(rk) for rk in kinds]
    paths: Doc = {}
    for rk in kinds:
        paths.update(_paths(rk))
    return _assemble(_shared_schemas(roots, scale=any("scale" in rk.subresources
                                                      for rk in kinds)), paths)


def _shared_schemas(roots: list[str], *, scale: bool) -> Doc:
    """``roots`` and every definition they reach, plus what every document needs."""
    roots = [*roots, *(extra_definition_name(n) for n in ("Status", "DeleteOptions",
                                                          "WatchEvent"))]
    if scale:
        roots.append(extra_definition_name("Scale"))
    schemas = {name: _convert(definitions()[name]) for name in _closure(roots)}
    schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Patch"] = {
        "description": "Patch is provided to give a concrete name and type to the Kubernetes "
                       "PATCH request body.", "type": "object"}
    return schemas


def _assemble(schemas: Doc, paths: Doc) -> Doc:
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": _VERSION},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas, "securitySchemes": {"BearerToken": {
            "type": "apiKey", "description": "Bearer Token authentication",
            "name": "authorization", "in": "header"}}},
        "security": [{"BearerToken": []}],
    }


@cache
def _serialized(path: str) -> tuple[bytes, str] | None:
    doc = _build(path)
    if doc is None:
        return None
    body = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return body, hashlib.sha512(body).hexdigest().upper()[:128]


def openapi_document_bytes(group_version: str) -> bytes | None:
    """The serialized document for ``api/v1``, ``apis/apps/v1`` (or ``v1``, ``apps/v1``)."""
    found = _serialized(_normalize(group_version))
    return found[0] if found else None


def openapi_document(group_version: str) -> Doc | None:
    """The document for a group-version (``api/v1``, ``apis/apps/v1``, ``v1`` or
    ``apps/v1``); ``None`` for group-versions we do not serve."""
    return _document(_normalize(group_version))


@cache
def _document(path: str) -> Doc | None:
    body = openapi_document_bytes(path)
    return None if body is None else dict(json.loads(body))


def document_hash(group_version: str) -> str | None:
    found = _serialized(_normalize(group_version))
    return found[1] if found else None


def openapi_root() -> Doc:
    """Body of ``GET /openapi/v3``."""
    paths = {}
    for path in sorted({gv_path(rk) for rk in KINDS}):
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={document_hash(path)}"}
    return {"paths": paths}


# ------------------------------------------------------------ kinds without built-in schemas

_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"


def schema_names(rk: ResourceKind) -> tuple[str, str]:
    """Names of a run-time kind's object and list schemas, as upstream names custom resources'
    (reversed group, version, kind: ``com.example.v1.Widget``)."""
    prefix = ".".join([*reversed(rk.group.split(".")), rk.version]) if rk.group else rk.version
    return f"{prefix}.{rk.kind}", f"{prefix}.{rk.kind}List"


def opaque_schema(rk: ResourceKind) -> Doc:
    """The OpenAPI schema of a kind that keeps whatever it is sent (metadata is typed)."""
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                           "metadata": {"$ref": _PREFIX + _OBJECT_META}},
            "x-kubernetes-group-version-kind": [{"group": rk.group, "version": rk.version,
                                                 "kind": rk.kind}]}


def custom_document(kinds: list[tuple[ResourceKind, Doc]]) -> Doc:
    """The document of a group-version served by kinds registered at run time, each given with
    its OpenAPI 3 object schema (refs already ``#/components/schemas/…``)."""
    schemas = _shared_schemas([_OBJECT_META, _LIST_META], scale=any(
        "scale" in rk.subresources for rk, _ in kinds))
    paths: Doc = {}
    for rk, schema in kinds:
        ref, list_ref = schema_names(rk)
        schemas[ref] = schema
        schemas[list_ref] = {
            "type": "object", "required": ["items"],
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                           "items": {"type": "array", "items": {"$ref": _PREFIX + ref}},
                           "metadata": {"$ref": _PREFIX + _LIST_META}},
            "x-kubernetes-group-version-kind": [{"group": rk.group, "version": rk.version,
                                                 "kind": f"{rk.kind}List"}]}
        paths.update(_paths(rk, (ref, list_ref)))
    for ops in paths.values():  # as upstream's CRD documents: no strategic merge (415)
        content = ((ops.get("patch") or {}).get("requestBody") or {}).get("content")
        if isinstance(content, dict):
            content.pop("application/strategic-merge-patch+json", None)
    return _assemble(dict(sorted(schemas.items())), paths)


def builtin_paths() -> frozenset[str]:
    """The group-version paths the built-in documents cover."""
    return frozenset(gv_path(rk) for rk in KINDS)
