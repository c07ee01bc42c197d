"""The ``apiextensions.k8s.io/v1`` CustomResourceDefinition kind and its strategy.

The kind is registered in every server's :class:`~.kinds.KindRegistry` at start (it has no
built-in schema in ``schemas.json``: the strategy validates with
:func:`kboot.controlplane.api.crd.definition.validate_crd`). A DELETE does what upstream's CRD
registry does: the object gets the ``customresourcecleanup.apiextensions.k8s.io`` finalizer and
a ``Terminating`` condition, so it stays until the CRD controller (:mod:`.crdcontroller`) has
deleted the custom resources and removed the finalizer.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kboot.controlplane.api.crd import definition
from kboot.controlplane.api.crd.paths import field_of, list_of
from kboot.controlplane.api.crd.served import CRD_KIND
from kboot.controlplane.apiserver.strategy import JsonObj, SchemalessStrategy

if TYPE_CHECKING:
    from kboot.controlplane.apiserver.auth import UserInfo

__all__ = ["CLEANUP_FINALIZER", "CRD_KIND", "CRDStrategy", "crd_strategy"]
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"

_COLUMNS = [{"name": "Name", "type": "string", "format": "name", "description": "",
             "priority": 0},
            {"name": "Created At", "type": "date", "format": "", "description": "",
             "priority": 0}]


def condition(obj: JsonObj, type_: str) -> JsonObj | None:
    """The status condition ``type_`` of a CRD (None when absent)."""
    for found in list_of(field_of(obj, "status"), "conditions"):
        if isinstance(found, dict) and found.get("type") == type_:
            return found
    return None


def set_condition(obj: JsonObj, new: JsonObj, now: str) -> None:
    """Set a condition in place; ``lastTransitionTime`` moves only when the status does."""
    status = obj.setdefault("status", {})
    conditions = [c for c in list_of(status, "conditions") if isinstance(c, dict)]
    old = next((c for c in conditions if c.get("type") == new["type"]), None)
    stamp = (old.get("lastTransitionTime") if old and old.get("status") == new["status"]
             else now)
    merged = {**new, "lastTransitionTime": stamp or now}
    status["conditions"] = [merged if c is old else c for c in conditions] + (
        [] if old else [merged])


@dataclass(frozen=True)
class CRDStrategy(SchemalessStrategy):
    """CRDs: validated by the CRD library; status (names, conditions) belongs to the
    controller; a delete waits for the custom resources to go."""

    generation: bool = True

    def default(self, obj: JsonObj) -> JsonObj:
        """Upstream's CRD defaults: ``singular`` (the kind in lower case), ``listKind``
        (``<Kind>List``), ``conversion.strategy: None``."""
        out = super().default(obj)
        spec = out.get("spec")
        if not isinstance(spec, dict):
            return out
        names = spec.get("names")
        if isinstance(names, dict) and isinstance(names.get("kind"), str) and names["kind"]:
            names.setdefault("singular", names["kind"].lower())
            names.setdefault("listKind", f"{names['kind']}List")
        spec.setdefault("conversion", {"strategy": "None"})
        return out

    def validate(self, obj: JsonObj, old: JsonObj | None) -> list[JsonObj]:
        causes = super().validate(obj, old)
        errors = (definition.validate_crd(obj) if old is None
                  else definition.validate_crd_update(obj, old))
        return causes + [e.cause() for e in errors]

    def prepare_for_create(self, obj: JsonObj, *, user: UserInfo | None) -> None:
        storage = [v.get("name") for v in list_of(field_of(obj, "spec"), "versions")
                   if isinstance(v, dict) and v.get("storage")]
        obj["status"] = {"conditions": [], "acceptedNames": {"kind": "", "plural": ""},
                         "storedVersions": storage[:1]}

    def mark_terminating(self, obj: JsonObj) -> None:
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if CLEANUP_FINALIZER not in finalizers:
            meta["finalizers"] = [*finalizers, CLEANUP_FINALIZER]
        now = str(meta.get("deletionTimestamp", ""))
        set_condition(obj, {"type": "Terminating", "status": "True",
                            "reason": "InstanceDeletionPending",
                            "message": "CustomResourceDefinition marked for deletion; "
                                       "CustomResource deletion will begin soon"}, now)

    def openapi_schema(self) -> JsonObj:
        """The opaque schema plus free-form ``spec`` and ``status``: kubectl's client-side
        validation through ``/openapi/v2`` (e.g. of a ``List`` holding a CRD) refuses fields a
        kind's definition does not name, whatever ``x-kubernetes-preserve-unknown-fields``."""
        schema = super().openapi_schema()
        free = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        schema["properties"] = {**schema.get("properties", {}), "spec": dict(free),
                                "status": dict(free)}
        return schema

    def to_table(self, objects: list[JsonObj], *, include_object: str, now: datetime.datetime,
                 include_columns: bool = True) -> JsonObj:
        table = super().to_table(objects, include_object=include_object, now=now,
                                 include_columns=include_columns)
        if include_columns:
            table["columnDefinitions"] = _COLUMNS
        return table


def crd_strategy() -> CRDStrategy:
    return CRDStrategy(CRD_KIND)
