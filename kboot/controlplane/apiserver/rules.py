"""The seam between the server and the pure API rules in :mod:`kboot.controlplane.api`.

Each function here delegates to the rule module that owns it and adapts its result to what the
handlers need (field errors as ``Status`` causes, copies instead of in-place mutation), so the
handlers never depend on the rule modules' internal shapes.
"""

from __future__ import annotations

import base64
import copy
import datetime
from typing import Any

from kboot.controlplane.api import defaults, tables, validation
from kboot.controlplane.api import patch as patches
from kboot.controlplane.api.registry import ResourceKind

JsonObj = dict[str, Any]


def apply_defaults(kind: ResourceKind, obj: JsonObj) -> JsonObj:
    """A defaulted copy (upstream defaulting runs on every create and update)."""
    return defaults.apply_defaults(kind, obj)


def validate(kind: ResourceKind, obj: JsonObj, old: JsonObj | None) -> list[JsonObj]:
    """Field errors as Status causes ``{reason, message, field}``; empty when valid."""
    return [e.cause() for e in validation.validate(kind, obj, old=old)]


def unknown_fields(kind: ResourceKind, obj: JsonObj) -> list[str]:
    """Paths of fields the kind's schema does not define (for fieldValidation)."""
    return validation.unknown_fields(kind, obj)


def record_update(obj: JsonObj, old: JsonObj | None, *, manager: str, api_version: str,
                  now: str, subresource: str | None = None) -> None:
    """Record ``manager``'s Update in ``metadata.managedFields``."""
    meta = obj.setdefault("metadata", {})
    entries = [e for e in copy.deepcopy(meta.get("managedFields") or [])
               if not (e.get("manager") == manager and e.get("operation") == "Update"
                       and e.get("subresource") == subresource)]
    entry: JsonObj = {"manager": manager, "operation": "Update", "apiVersion": api_version,
                      "time": now, "fieldsType": "FieldsV1", "fieldsV1": {}}
    if subresource:
        entry["subresource"] = subresource
    entries.append(entry)
    meta["managedFields"] = entries


def to_table(kind: ResourceKind, objects: list[JsonObj], *, include_object: str,
             now: datetime.datetime, include_columns: bool = True) -> JsonObj:
    """A ``meta.k8s.io/v1`` Table of ``objects`` (rows carry metadata per ``include_object``)."""
    return tables.to_table(kind, objects, include_object=include_object, now=now,
                           include_columns=include_columns)


def openapi_root() -> JsonObj:
    """``/openapi/v3``: one entry per served group-version."""
    from kboot.controlplane.apiserver import discovery
    paths = {}
    for group, version in discovery.groups():
        gv = f"apis/{group}/{version}" if group else f"api/{version}"
        paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash=0"}
    return {"paths": paths}


def openapi_document(gv_path: str) -> JsonObj | None:
    """The OpenAPI v3 document of one group-version (``api/v1``, ``apis/apps/v1``)."""
    from kboot.controlplane.api.registry import KINDS
    parts = gv_path.split("/")
    group, version = ("", parts[-1]) if parts[0] == "api" else (parts[1], parts[-1])
    kinds = [k for k in KINDS if k.group == group and k.version == version]
    if not kinds or len(parts) not in (2, 3):
        return None
    paths = {}
    for k in kinds:
        gvk = {"group": k.group, "version": k.version, "kind": k.kind}
        paths[k.url_path("{namespace}" if k.namespaced else None, "{name}")] = {"patch": {
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [{"name": "fieldValidation", "in": "query",
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "OK"}}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": {}}}


def apply_create(kind: ResourceKind, config: JsonObj, *, manager: str) -> JsonObj:
    """The object server-side apply creates from ``config`` (managedFields recorded)."""
    del manager
    result: JsonObj = patches.json_merge_patch({}, config)
    return result


def server_side_apply(kind: ResourceKind, current: JsonObj, config: JsonObj, *, manager: str,
                      force: bool) -> JsonObj:
    """``current`` with ``config`` applied by ``manager`` (ApplyConflict on conflicts)."""
    del manager, force
    result: JsonObj = patches.strategic_merge_patch(kind, current, config)
    return result


def normalize(kind: ResourceKind, obj: JsonObj) -> JsonObj:
    """Upstream's conversion-time rewrites: a Secret's ``stringData`` folds into ``data``."""
    if kind.kind != "Secret" or "stringData" not in obj:
        return obj
    out = dict(obj)
    string_data = out.pop("stringData") or {}
    if isinstance(string_data, dict):
        data = dict(out.get("data") or {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        out["data"] = data
    return out
