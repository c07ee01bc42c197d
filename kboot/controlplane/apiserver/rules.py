"""The seam between the server and the pure API rules in :mod:`kboot.controlplane.api`.

Each function here delegates to the rule module that owns it and adapts its result to what the
handlers need (field errors as ``Status`` causes, copies instead of in-place mutation), so the
handlers never depend on the rule modules' internal shapes.
"""

from __future__ import annotations

import datetime
from typing import Any

from kboot.controlplane.api import apply, defaults, tables, validation
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


def record_update(kind: ResourceKind, obj: JsonObj, old: JsonObj | None, *, manager: str,
                  now: datetime.datetime, subresource: str | None = None) -> None:
    """Record ``manager``'s Update in ``obj``'s ``metadata.managedFields`` (in place)."""
    obj.setdefault("metadata", {})["managedFields"] = apply.record_update(
        kind, old, obj, manager=manager, api_version=kind.api_version, now=now,
        subresource=subresource or "")


def to_table(kind: ResourceKind, objects: list[JsonObj], *, include_object: str,
             now: datetime.datetime, include_columns: bool = True) -> JsonObj:
    """A ``meta.k8s.io/v1`` Table of ``objects`` (rows carry metadata per ``include_object``)."""
    return tables.to_table(kind, objects, include_object=include_object, now=now,
                           include_columns=include_columns)


def server_side_apply(kind: ResourceKind, current: JsonObj | None, config: JsonObj, *,
                      manager: str, force: bool, now: datetime.datetime,
                      subresource: str | None = None) -> JsonObj:
    """``current`` (None: create) with ``config`` applied by ``manager``; managedFields updated.

    Raises ApplyConflict (409) when another manager owns a changed field and not ``force``.
    """
    if kind.schema is None:  # built-in kinds only: a custom resource's ports are its own
        config = _default_port_protocols(config)
    return apply.server_side_apply(kind, current, config, manager=manager, force=force,
                                   api_version=kind.api_version, now=now,
                                   subresource=subresource or "")


def _default_port_protocols(value: Any) -> Any:
    """``protocol: TCP`` on port items that omit it: ``protocol`` is part of the list-map key of
    service and container ports, so an applied port without it would not match the live (and
    defaulted) item and would be added a second time."""
    if isinstance(value, dict):
        out = {k: _default_port_protocols(v) for k, v in value.items()}
        ports = out.get("ports")
        if isinstance(ports, list):
            out["ports"] = [{**p, "protocol": "TCP"} if isinstance(p, dict) and "protocol" not in p
                            and ("port" in p or "containerPort" in p) else p for p in ports]
        return out
    if isinstance(value, list):
        return [_default_port_protocols(v) for v in value]
    return value
