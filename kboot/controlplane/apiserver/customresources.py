"""The strategy of a custom resource: one served version of a CustomResourceDefinition.

:func:`strategy_for` turns a CRD (with its accepted names) into the
:class:`CustomResourceStrategy` the :class:`~.kinds.KindRegistry` serves. Everything it does
comes from the CRD and the pure library :mod:`kboot.controlplane.api.crd`: pruning and
defaulting (``default``), unknown fields for ``fieldValidation`` (``unknown_fields``), the
structural schema, metadata, embedded resources and CEL rules (``validate``, ratcheting on
updates), ``additionalPrinterColumns`` (``to_table``), the scale subresource
(``to_scale``/``scaled``) and the OpenAPI schema (``openapi_schema``). Status subresource and
generation rules are the generic path's (``kind.subresources`` carries ``status``).

The strategy serves the storage version; the CRD's other served versions are views of it
(:mod:`.crdviews`: requests and answers converted at the edge), listed by
:meth:`CustomResourceStrategy.served_kinds`.
"""

from __future__ import annotations

import copy
import datetime
import json
from dataclasses import dataclass, field
from typing import Any

from kboot.controlplane.api.crd import columns as crd_columns
from kboot.controlplane.api.crd import openapi as crd_openapi
from kboot.controlplane.api.crd import scale as crd_scale
from kboot.controlplane.api.crd.paths import field_of
from kboot.controlplane.api.crd.pruning import unknown_fields
from kboot.controlplane.api.crd.resource import ResourceSchema
from kboot.controlplane.api.crd.served import CRD_KIND, accepted_kind
from kboot.controlplane.api.crd.versions import Version, served_versions, storage_version
from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.api.status import StatusError
from kboot.controlplane.apiserver.strategy import JsonObj, SchemalessStrategy, Server


@dataclass(frozen=True)
class CustomResourceStrategy(SchemalessStrategy):
    """A custom resource kind served from its CRD's storage version."""

    crd: JsonObj = field(default_factory=dict, compare=False)
    version: Version | None = field(default=None, compare=False)
    schema: ResourceSchema | None = field(default=None, compare=False)
    fingerprint: str = ""  # what the kind was built from: changes re-register it

    # ----------------------------------------------------------------- decode, default, validate

    def unknown_fields(self, obj: JsonObj) -> list[str]:
        if self.schema is None:
            return []
        return unknown_fields(obj, self.schema.schema)

    def default(self, obj: JsonObj) -> JsonObj:
        out = super().default(obj)
        return self.schema.read(copy.deepcopy(out)) if self.schema is not None else out

    def validate(self, obj: JsonObj, old: JsonObj | None) -> list[JsonObj]:
        if self.schema is None:
            return super().validate(obj, old)
        return [e.cause() for e in self.schema.validate(obj, old=old)]

    # --------------------------------------------------------------------------- presentation

    def _columns(self) -> list[JsonObj]:
        return list(self.version.columns) if self.version is not None else []

    def to_table(self, objects: list[JsonObj], *, include_object: str, now: datetime.datetime,
                 include_columns: bool = True) -> JsonObj:
        columns = self._columns()
        rows = []
        for obj in objects:
            row: JsonObj = {"cells": crd_columns.row_cells(obj, columns, now)}
            if include_object == "Object":
                row["object"] = obj
            elif include_object != "None":
                row["object"] = {"kind": "PartialObjectMetadata",
                                 "apiVersion": "meta.k8s.io/v1",
                                 "metadata": obj.get("metadata") or {}}
            rows.append(row)
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": ""},
                "columnDefinitions": (crd_columns.table_columns(columns)
                                      if include_columns else []),
                "rows": rows}

    def openapi_schema(self) -> JsonObj:
        return crd_openapi.object_schema(self.crd, self.kind.version)

    async def admit_create(self, state: Server, obj: JsonObj) -> JsonObj:
        """Upstream's CRD handler: no new custom resources while the CRD is terminating (its
        controller is deleting them). The CRD is read from the watch cache (no I/O)."""
        name = str(field_of(self.crd, "metadata").get("name") or "")
        current = state.caches.peek(CRD_KIND).objects.get(CRD_KIND.key(None, name))
        if current is not None and field_of(current, "metadata").get("deletionTimestamp"):
            raise StatusError(405, "MethodNotAllowed", "create not allowed while custom "
                              "resource definition is terminating",
                              details={"group": self.kind.group, "kind": self.kind.plural})
        return obj

    def served_kinds(self) -> tuple[ResourceKind, ...]:
        """Every served version of the CRD, preferred (highest priority) first."""
        return tuple(self.kind if v.name == self.kind.version else
                     accepted_kind(self.crd, v.name) for v in served_versions(self.crd))

    def openapi_schema_of(self, kind: ResourceKind) -> JsonObj:
        return crd_openapi.object_schema(self.crd, kind.version)

    # ----------------------------------------------------------------------------------- scale

    def to_scale(self, obj: JsonObj) -> JsonObj:
        scale = self.version.scale if self.version is not None else None
        return crd_scale.scale_of(obj, scale or {})

    def scaled(self, obj: JsonObj, replicas: int) -> JsonObj:
        scale = self.version.scale if self.version is not None else None
        return crd_scale.apply_scale(obj, scale or {}, replicas)


def fingerprint(crd: JsonObj) -> str:
    """What serving depends on: the spec and the accepted names."""
    return json.dumps([field_of(crd, "spec"),
                       field_of(field_of(crd, "status"), "acceptedNames")], sort_keys=True)


def strategy_for(crd: JsonObj) -> CustomResourceStrategy | None:
    """The strategy serving ``crd`` (its accepted names, storage version); None when it has
    no served storage version. Raises the library's ``SchemaCompileError`` on CEL rules that
    do not compile (the CRD's own validation refuses those)."""
    version = storage_version(crd)
    if version is None or not version.served:
        return None
    kind = accepted_kind(crd, version.name)
    schema = ResourceSchema(version.schema, kind=kind.kind, namespaced=kind.namespaced,
                            api_version=kind.api_version, scale=version.scale)
    return CustomResourceStrategy(kind, crd=crd, version=version, schema=schema,
                                  fingerprint=fingerprint(crd))


def storage_kind(crd: JsonObj) -> ResourceKind | None:
    """The kind under which ``crd``'s objects are stored (cleanup after a delete)."""
    version = storage_version(crd)
    return accepted_kind(crd, version.name) if version is not None else None


def is_custom(strategy: Any) -> bool:
    return isinstance(strategy, CustomResourceStrategy)
