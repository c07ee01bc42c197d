"""The seam every component codes against: :class:`ApiClient`, implemented by the real REST
client and by the in-memory fake, plus how a resource is named (:func:`resolve`).

Objects are plain JSON dicts (``Obj``), exactly what the apiserver serves; a resource is named by
its :class:`~kboot.controlplane.api.registry.ResourceKind` or a string: a plural (``"pods"``), a
plural with group (``"deployments.apps"``) or a kind (``"Deployment"``).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from kboot.controlplane.api.registry import KINDS, ResourceKind, for_api_version
from kboot.controlplane.api.shapes import Obj as Obj  # re-exported: the client names objects by it

Ref = ResourceKind | str
PatchType = Literal["merge", "json", "strategic", "apply"]
EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]

PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


@dataclass(frozen=True)
class WatchEvent:
    type: EventType
    object: Obj


@dataclass(frozen=True)
class DeleteOptions:
    propagation_policy: Literal["Foreground", "Background", "Orphan"] | None = None
    grace_period_seconds: int | None = None
    preconditions: dict[str, str] | None = None  # {"uid": …, "resourceVersion": …}

    def body(self) -> Obj:
        out: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if self.propagation_policy:
            out["propagationPolicy"] = self.propagation_policy
        if self.grace_period_seconds is not None:
            out["gracePeriodSeconds"] = self.grace_period_seconds
        if self.preconditions:
            out["preconditions"] = self.preconditions
        return out


def resolve(ref: Ref) -> ResourceKind:
    """The kind a reference names; raises ``KeyError`` for unknown names."""
    if isinstance(ref, ResourceKind):
        return ref
    plural, _, group = ref.partition(".")
    for kind in KINDS:
        if (kind.plural == plural or kind.kind == ref) and (not group or kind.group == group):
            return kind
    raise KeyError(f"unknown resource {ref!r}")


class ApiClient(abc.ABC):
    """What components need from the apiserver; every method raises ``errors.ApiError`` kinds.

    An abstract base rather than a Protocol so both implementations share the derived verbs
    (status helpers, paginated iteration) written once below.
    """

    @abc.abstractmethod
    async def get(self, ref: Ref, name: str, *, namespace: str | None = None) -> Obj: ...

    @abc.abstractmethod
    async def list(self, ref: Ref, *, namespace: str | None = None,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None) -> Obj: ...

    @abc.abstractmethod
    async def create(self, ref: Ref, body: Obj, *, namespace: str | None = None,
                     field_manager: str | None = None) -> Obj: ...

    @abc.abstractmethod
    async def replace(self, ref: Ref, body: Obj, *, subresource: str | None = None) -> Obj: ...

    @abc.abstractmethod
    async def patch(self, ref: Ref, name: str, patch: Any, *, namespace: str | None = None,
                    patch_type: PatchType = "merge", field_manager: str | None = None,
                    force: bool = False, subresource: str | None = None) -> Obj: ...

    @abc.abstractmethod
    async def delete(self, ref: Ref, name: str, *, namespace: str | None = None,
                     options: DeleteOptions | None = None) -> Obj: ...

    @abc.abstractmethod
    async def create_subresource(self, ref: Ref, name: str, subresource: str, body: Obj, *,
                                 namespace: str | None = None) -> Obj: ...

    @abc.abstractmethod
    def watch(self, ref: Ref, *, namespace: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None,
              resource_version: str | None = None, allow_bookmarks: bool = True,
              timeout_seconds: int | None = None) -> AsyncIterator[WatchEvent]: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def get_status(self, ref: Ref, name: str, *, namespace: str | None = None) -> Obj:
        return await self.get(ref, name, namespace=namespace)

    async def replace_status(self, ref: Ref, body: Obj) -> Obj:
        return await self.replace(ref, body, subresource="status")

    async def patch_status(self, ref: Ref, name: str, patch: Any, *,
                           namespace: str | None = None,
                           patch_type: PatchType = "merge") -> Obj:
        return await self.patch(ref, name, patch, namespace=namespace, patch_type=patch_type,
                                subresource="status")

    async def list_all(self, ref: Ref, *, namespace: str | None = None,
                       label_selector: str | None = None, field_selector: str | None = None,
                       page_size: int = 500) -> AsyncIterator[Obj]:
        """Every item, following ``continue`` tokens page by page."""
        token: str | None = None
        while True:
            page = await self.list(ref, namespace=namespace, label_selector=label_selector,
                                   field_selector=field_selector, limit=page_size,
                                   continue_=token)
            for item in page.get("items") or []:
                yield item
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return

    async def apply(self, body: Obj, *, field_manager: str, force: bool = True) -> Obj:
        """Server-side apply of a whole object (kind from its apiVersion/kind)."""
        kind = kind_of(body)
        meta = body.get("metadata") or {}
        return await self.patch(kind, meta["name"], body, namespace=meta.get("namespace"),
                                patch_type="apply", field_manager=field_manager, force=force)


def kind_of(body: Obj) -> ResourceKind:
    """The registered kind of an object, from its ``apiVersion`` and ``kind``."""
    found = for_api_version(str(body.get("apiVersion", "")), str(body.get("kind", "")))
    if found is None:
        raise KeyError(f"unknown kind {body.get('apiVersion')}/{body.get('kind')}")
    return found
