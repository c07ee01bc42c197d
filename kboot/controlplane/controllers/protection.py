"""Storage-object-in-use protection (upstream's ``pvcprotection`` and ``pvprotection``
controllers).

Every claim carries the ``kubernetes.io/pvc-protection`` finalizer and every volume
``kubernetes.io/pv-protection`` (added here, as upstream's controllers do for objects created
without the admission plugin). A deleted claim keeps its finalizer while a pod that is
scheduled and not finished names it, so its data are never pulled from under a running pod; once
no such pod is left the finalizer is dropped and the claim goes (namespace deletion therefore
finishes: it deletes the pods and the claims, and the last pod's departure releases the claim).
A deleted volume keeps its finalizer while it is ``Bound``.

The decisions are the pure functions :func:`claim_in_use` and :func:`finalizers_after`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.errors import Conflict, NotFound
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.client.meta import is_deleting
from kboot.controlplane.controllers.base import Controller, ControllerContext

log = logging.getLogger(__name__)
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"


def claims_of(pod: Obj) -> set[str]:
    return {str(v["persistentVolumeClaim"]["claimName"])
            for v in (pod.get("spec") or {}).get("volumes") or []
            if (v.get("persistentVolumeClaim") or {}).get("claimName")}


def claim_in_use(claim_name: str, pods: Iterable[Obj]) -> bool:
    """A pod uses a claim while it names it, is scheduled and has not finished (an
    unscheduled pod never starts on a deleted claim: the scheduler refuses it)."""
    for pod in pods:
        phase = (pod.get("status") or {}).get("phase")
        if (claim_name in claims_of(pod) and (pod.get("spec") or {}).get("nodeName")
                and phase not in ("Succeeded", "Failed")):
            return True
    return False


def finalizers_after(obj: Obj, finalizer: str, *, protect: bool) -> list[str] | None:
    """The object's finalizers with ``finalizer`` added (``protect``, object not being
    deleted) or removed (``not protect``, object being deleted); ``None`` if unchanged."""
    current = list((obj.get("metadata") or {}).get("finalizers") or [])
    if is_deleting(obj):
        if protect or finalizer not in current:
            return None
        return [f for f in current if f != finalizer]
    if finalizer in current:
        return None
    return [*current, finalizer]


class _Protection(Controller):
    """Shared: patch the finalizer list with the object's resourceVersion as guard."""

    resource = ""

    async def _set_finalizers(self, obj: Obj, finalizers: list[str]) -> Result:
        meta = obj["metadata"]
        patch = {"metadata": {"finalizers": finalizers,
                              "resourceVersion": meta["resourceVersion"]}}
        try:
            await self.client.patch(self.resource, meta["name"], patch,
                                    namespace=meta.get("namespace"))
        except Conflict:
            return Result(requeue=True)
        except NotFound:
            pass
        return DONE


class PvcProtectionController(_Protection):
    name = "pvc-protection"
    resource = "persistentvolumeclaims"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.claims = self.informer("persistentvolumeclaims")
        self.pods = self.informer("pods")
        self.claims.add_handlers(Handlers(on_add=self.enqueue,
                                          on_update=lambda _o, n: self.enqueue(n)))
        self.pods.add_handlers(Handlers(on_update=lambda _o, n: self._pod(n),
                                        on_delete=self._pod))

    def _pod(self, pod: Obj) -> None:
        ns = pod["metadata"]["namespace"]
        for name in claims_of(pod):
            self.queue.add(f"{ns}/{name}")

    async def reconcile(self, key: str) -> Result:
        claim = self.claims.get(key)
        if claim is None:
            return DONE
        ns, name = claim["metadata"]["namespace"], claim["metadata"]["name"]
        in_use = is_deleting(claim) and await self._in_use(ns, name)
        finalizers = finalizers_after(claim, PVC_PROTECTION, protect=in_use)
        if finalizers is None:
            return DONE
        if is_deleting(claim):
            log.info("claim %s is no longer used by a pod: releasing it", key)
        return await self._set_finalizers(claim, finalizers)


    async def _in_use(self, ns: str, name: str) -> bool:
        """The cache first; a claim it calls unused is confirmed with a live list (as
        upstream), since a pod created a moment ago may not be cached yet."""
        if claim_in_use(name, self.pods.by_index("namespace", ns)):
            return True
        page = await self.client.list("pods", namespace=ns)
        return claim_in_use(name, page.get("items") or [])


class PvProtectionController(_Protection):
    name = "pv-protection"
    resource = "persistentvolumes"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.volumes = self.informer("persistentvolumes")
        self.volumes.add_handlers(Handlers(on_add=self.enqueue,
                                           on_update=lambda _o, n: self.enqueue(n)))

    async def reconcile(self, key: str) -> Result:
        pv = self.volumes.get(key)
        if pv is None:
            return DONE
        bound = (pv.get("status") or {}).get("phase") == "Bound"
        finalizers = finalizers_after(pv, PV_PROTECTION, protect=bound)
        return DONE if finalizers is None else await self._set_finalizers(pv, finalizers)
