"""Namespace deletion: once a Namespace has a deletionTimestamp, delete everything namespaced
in it — the built-in kinds and every namespaced kind an established CRD serves (upstream's
controller asks discovery; ours reads the CRDs discovery is built from) — wait until nothing
is left, then finalize it (drop ``kubernetes`` from
``spec.finalizers``, through the ``finalize`` subresource when the server has it) so the
apiserver removes it. Also keeps a ``default`` ServiceAccount in every active namespace.
"""

from __future__ import annotations

import logging

from kboot.controlplane.api.crd.served import CRD_KIND, served_kind
from kboot.controlplane.api.registry import KINDS, ResourceKind
from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.api import DeleteOptions
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.errors import ApiError, NotFound
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.client.meta import is_deleting
from kboot.controlplane.controllers.base import Controller, ControllerContext

log = logging.getLogger(__name__)
NAMESPACED = tuple(k for k in KINDS if k.namespaced)


class NamespaceController(Controller):
    name = "namespace"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.namespaces = self.informer("namespaces")
        self.namespaces.add_handlers(Handlers(on_add=self._ns,
                                              on_update=lambda _o, n: self._ns(n)))

    def _ns(self, ns: Obj) -> None:
        if is_deleting(ns):
            self.enqueue(ns)

    async def reconcile(self, key: str) -> Result:
        ns = self.namespaces.get(key)
        if ns is None or not is_deleting(ns):
            return DONE
        remaining = 0
        for kind in (*NAMESPACED, *await self._custom_kinds()):
            try:
                page = await self.client.list(kind, namespace=key)
            except ApiError:
                continue
            for item in page.get("items") or []:
                remaining += 1
                if not is_deleting(item):
                    try:
                        await self.client.delete(kind, item["metadata"]["name"], namespace=key,
                                                 options=DeleteOptions(
                                                     propagation_policy="Background"))
                    except NotFound:
                        remaining -= 1
        if remaining:
            return Result(requeue_after=1.0)
        await self._finalize(ns)
        return DONE

    async def _custom_kinds(self) -> list[ResourceKind]:
        """The namespaced kinds the established CRDs serve right now."""
        try:
            crds = [crd async for crd in self.client.list_all(CRD_KIND)]
        except ApiError:
            return []
        kinds = (served_kind(crd) for crd in crds)
        return [k for k in kinds if k is not None and k.namespaced]

    async def _finalize(self, ns: Obj) -> None:
        fins = [f for f in (ns.get("spec") or {}).get("finalizers") or [] if f != "kubernetes"]
        if fins == ((ns.get("spec") or {}).get("finalizers") or []):
            return
        body = {**ns, "spec": {**(ns.get("spec") or {}), "finalizers": fins}}
        try:
            await self.client.replace("namespaces", body, subresource="finalize")
        except NotFound:
            await self.client.replace("namespaces", body)


class ServiceAccountController(Controller):
    """A ``default`` ServiceAccount in every namespace that is not being deleted."""

    name = "serviceaccount"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.namespaces = self.informer("namespaces")
        self.accounts = self.informer("serviceaccounts")
        self.namespaces.add_handlers(Handlers(on_add=self.enqueue,
                                              on_update=lambda _o, n: self.enqueue(n)))
        self.accounts.add_handlers(Handlers(
            on_delete=lambda sa: self.queue.add(sa["metadata"]["namespace"])))

    async def reconcile(self, key: str) -> Result:
        ns = self.namespaces.get(key)
        if ns is None or is_deleting(ns) or self.accounts.get(f"{key}/default"):
            return DONE
        try:
            await self.client.create("serviceaccounts", {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": key}})
        except ApiError as exc:
            if exc.code != 409:
                raise
        return DONE
