"""What the apiserver does differently per kind: one :class:`Strategy` object per served kind.

The generic write path (:mod:`.crud`, :mod:`.admission`, :mod:`.patching`, :mod:`.writes`) and
the read path (:mod:`.listing`, :mod:`.watch`) never name a kind; they ask the kind's strategy,
found through the :class:`~.kinds.KindRegistry`. The interface follows upstream's
``rest.RESTCreateStrategy``/``RESTUpdateStrategy``/``RESTDeleteStrategy`` plus the pieces
kube-apiserver keeps beside them (table convertor, field-selector attributes, storage options,
admission plugins that concern one kind):

============================  ==================================================================
decode                        :meth:`Strategy.normalize`, :meth:`Strategy.unknown_fields`
defaulting / validation       :meth:`Strategy.default`, :meth:`Strategy.validate`
create                        :meth:`Strategy.prepare_for_create` (status reset, requestor...)
update                        :meth:`Strategy.prepare_for_update` (status subresource rules)
patch                         :attr:`Strategy.strategic_merge` (accepted or 415)
generation                    :attr:`Strategy.generation` (does ``metadata.generation`` count)
managed fields                :meth:`Strategy.record_update`
delete                        :meth:`Strategy.grace_seconds`, :attr:`Strategy.propagation_marks`,
                              :meth:`Strategy.mark_terminating`, :meth:`Strategy.holds_removal`
admission with server state   :meth:`Strategy.admit_create`, :meth:`Strategy.admit_update`,
                              :meth:`Strategy.release`
presentation                  :meth:`Strategy.to_table`, :meth:`Strategy.field_selector`,
                              :meth:`Strategy.openapi_schema`
scale subresource             :meth:`Strategy.to_scale`, :meth:`Strategy.scaled`
storage                       :attr:`Strategy.storage` (encryption at rest, TTL)
============================  ==================================================================

:class:`Strategy` itself is the generic strategy of a built-in kind: defaults, validation,
tables and managed fields come from the kind's schema in :mod:`kboot.controlplane.api`.
Specialised built-in strategies live in :mod:`.strategies`. :class:`SchemalessStrategy` is a
strategy built from data alone (no built-in schema: objects are kept as sent, only metadata is
validated) — the starting point for kinds registered at run time such as custom resources.
Strategies are frozen dataclasses, so a kind's policy can be written as data:
``Strategy(kind, generation=False, storage=StorageOptions(encrypted=True))``.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kboot.controlplane.api import openapi, selectors, validation
from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.api.replicationcontrollers import workload_selector
from kboot.controlplane.apiserver import rules

if TYPE_CHECKING:
    from kboot.controlplane.apiserver.allocators import ServiceAllocators
    from kboot.controlplane.apiserver.auth import UserInfo
    from kboot.controlplane.apiserver.storage import ObjectStorage
    from kboot.controlplane.apiserver.watchcache import WatchCaches

JsonObj = dict[str, Any]


class Server(Protocol):
    """What a strategy's admission hooks may use of the running server (the ``ServerState``;
    a protocol, so strategies stay below the handlers and the authorizers in the layering)."""

    storage: ObjectStorage
    caches: WatchCaches
    allocators: ServiceAllocators


@dataclass(frozen=True)
class Representation:
    """A kind kept in another kind's stored shape (upstream: one storage, several versions or
    groups): ``to_storage`` on every write, ``from_storage`` on every read and watch event."""

    to_storage: Callable[[JsonObj], JsonObj]
    from_storage: Callable[[JsonObj], JsonObj]


@dataclass(frozen=True)
class StorageOptions:
    """How a kind's objects are kept: sealed by the configured encryptor, and/or written with
    a lease of ``ttl_seconds`` (upstream's ``--event-ttl``), and/or ``stored_as`` another
    kind's shape under the same keys (``events.k8s.io`` Events are core Events)."""

    encrypted: bool = False
    ttl_seconds: int | None = None
    stored_as: Representation | None = None


@dataclass(frozen=True)
class Strategy:
    """The generic strategy: a built-in kind served by its schema with upstream's defaults.

    ``generation``: ``metadata.generation`` starts at 1 and counts spec changes (upstream's
    strategies that set it; kinds without a spec/status split leave it out).
    ``keeps_status_on_create``: a kind with a ``status`` subresource normally drops the status
    sent with a create (it belongs to the controllers); a few kinds accept it.
    ``propagation_marks``: a Foreground/Orphan delete adds the ``foregroundDeletion``/``orphan``
    finalizer (the garbage collector honours it); kinds nothing owns skip it.
    ``strategic_merge``: whether strategic-merge patches are accepted (they need the patch
    directives of a built-in schema; upstream refuses them for custom resources with 415).
    """

    kind: ResourceKind
    generation: bool = True
    keeps_status_on_create: bool = False
    propagation_marks: bool = True
    strategic_merge: bool = True
    storage: StorageOptions = field(default_factory=StorageOptions)

    # ----------------------------------------------------------------- decode, default, validate

    def normalize(self, obj: JsonObj) -> JsonObj:
        """Conversion-time rewrites before defaulting (upstream's internal-version conversion)."""
        return obj

    def unknown_fields(self, obj: JsonObj) -> list[str]:
        """Paths of fields the kind does not define (for ``fieldValidation``)."""
        return rules.unknown_fields(self.kind, obj)

    def default(self, obj: JsonObj) -> JsonObj:
        """A defaulted copy (runs on every create and update, before validation)."""
        return rules.apply_defaults(self.kind, obj)

    def validate(self, obj: JsonObj, old: JsonObj | None) -> list[JsonObj]:
        """Field errors as ``Status`` causes; ``old`` is None on create."""
        return rules.validate(self.kind, obj, old)

    # ------------------------------------------------------------------------- create, update

    def prepare_for_create(self, obj: JsonObj, *, user: UserInfo | None) -> None:
        """Server-owned parts of a new object (in place), after metadata is filled in.
        ``user`` is who asked (None for objects the server creates itself)."""
        if "status" in self.kind.subresources and not self.keeps_status_on_create:
            obj.pop("status", None)

    def prepare_for_update(self, new: JsonObj, old: JsonObj, *, subresource: str | None
                           ) -> None:
        """Kind rules of a write through a status-like subresource (in place); the generic
        path has already taken ``status`` from ``new`` and everything else from ``old``."""

    def record_update(self, obj: JsonObj, old: JsonObj | None, *, manager: str,
                      subresource: str | None, now: datetime.datetime) -> None:
        """Record ``manager``'s Update in ``obj``'s ``metadata.managedFields`` (in place)."""
        rules.record_update(self.kind, obj, old, manager=manager, subresource=subresource,
                            now=now)

    # --------------------------------------------------------------------------------- delete

    def grace_seconds(self, obj: JsonObj, options: JsonObj) -> int:
        """The grace period a DELETE gives ``obj`` (0: it goes as soon as nothing holds it)."""
        return 0

    def mark_terminating(self, obj: JsonObj) -> None:
        """What else changes when ``obj`` gets its ``deletionTimestamp`` (in place)."""

    def holds_removal(self, obj: JsonObj) -> bool:
        """Whether a deleting ``obj`` with no finalizers left must still stay (it is then
        removed by a later write that clears the hold)."""
        return False

    # ----------------------------------------------------------------- admission with state

    async def admit_create(self, state: Server, obj: JsonObj) -> JsonObj:
        """Admission that needs the server (other objects, allocators), on create."""
        return obj

    def admit_update(self, state: Server, new: JsonObj, old: JsonObj) -> JsonObj:
        """Admission that needs the server, on every update (runs inside the guarded
        read-modify-write, so it must not await)."""
        return new

    async def release(self, state: Server, obj: JsonObj) -> None:
        """Give back what :meth:`admit_create` took (a failed create, a removed object)."""

    # --------------------------------------------------------------------------- presentation

    def to_table(self, objects: list[JsonObj], *, include_object: str, now: datetime.datetime,
                 include_columns: bool = True) -> JsonObj:
        """A ``meta.k8s.io/v1`` Table of ``objects`` (``kubectl get``)."""
        return rules.to_table(self.kind, objects, include_object=include_object, now=now,
                              include_columns=include_columns)

    def field_selector(self, text: str | None) -> selectors.FieldSelector:
        """A parsed ``fieldSelector`` over the kind's selectable fields (400 on others)."""
        return selectors.parse_field_selector(self.kind, text)

    def openapi_schema(self) -> JsonObj:
        """The kind's OpenAPI 3 schema, for group-versions without a built-in document (the
        built-in kinds' documents come from their schemas)."""
        return openapi.opaque_schema(self.kind)

    def served_kinds(self) -> tuple[ResourceKind, ...]:
        """Every version of the kind that is served (discovery, OpenAPI): the kind itself,
        unless a custom resource serves several versions of its CRD."""
        return (self.kind,)

    def openapi_schema_of(self, kind: ResourceKind) -> JsonObj:
        """The OpenAPI schema of one of :meth:`served_kinds`."""
        return self.openapi_schema()

    # ----------------------------------------------------------------------------------- scale

    def to_scale(self, obj: JsonObj) -> JsonObj:
        """The ``autoscaling/v1`` Scale view of ``obj`` (the ``scale`` subresource)."""
        meta = obj["metadata"]
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                  "creationTimestamp") if k in meta},
                "spec": {"replicas": spec.get("replicas", 1)},
                "status": {"replicas": status.get("replicas", 0),
                           "selector": selectors.selector_string(workload_selector(obj))}}

    def scaled(self, obj: JsonObj, replicas: int) -> JsonObj:
        """A copy of ``obj`` with ``replicas`` written where its Scale reads them."""
        new = copy.deepcopy(obj)
        new.setdefault("spec", {})["replicas"] = replicas
        return new


@dataclass(frozen=True)
class SchemalessStrategy(Strategy):
    """A kind without a built-in schema: objects are stored as sent (no defaulting, no unknown
    fields), ``metadata`` is validated as for every kind, tables show Name and Created At.

    Subclass (or replace single methods of) this for kinds whose rules come from data, as a
    CustomResourceDefinition's structural schema will."""

    strategic_merge: bool = False

    def unknown_fields(self, obj: JsonObj) -> list[str]:
        return []

    def default(self, obj: JsonObj) -> JsonObj:
        return {k: v for k, v in obj.items() if v is not None}

    def validate(self, obj: JsonObj, old: JsonObj | None) -> list[JsonObj]:
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            return [{"reason": "FieldValueRequired", "field": "metadata",
                     "message": "Required value"}]
        errors = validation.validate_metadata(meta, kind=self.kind.kind,
                                              namespaced=self.kind.namespaced)
        return [e.cause() for e in errors]
