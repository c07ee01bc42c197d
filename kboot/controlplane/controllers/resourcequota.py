"""The resource-quota controller: keeps every ResourceQuota's ``status`` true (upstream's
``pkg/controller/resourcequota``).

``status.hard`` mirrors ``spec.hard``; ``status.used`` is recounted from the namespace's objects
(consistent lists from the apiserver, never a lagging cache) with the arithmetic the admission
step uses (:mod:`kboot.controlplane.api.quotas`): finished pods and removed objects stop
counting. A quota is recounted when it changes, when a pod, service, claim, ConfigMap or Secret
of its namespace changes, and every :data:`RESYNC_SECONDS`.

Admission charges a quota *before* the object is stored, so a recount can miss an object that
is being created. The controller therefore never lowers usage on first sight: a lower count is
written only when a second count :data:`SETTLE_SECONDS` later agrees and the quota has not
been charged in between (same resourceVersion); the write carries that resourceVersion, so a
charge that races it conflicts and the quota is counted again. Raising usage is written at once.
"""

from __future__ import annotations

import logging
from fractions import Fraction

from kboot.controlplane.api import quotas
from kboot.controlplane.api.quantities import parse_quantity
from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.api import resolve
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.errors import Conflict, NotFound
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.controllers.base import Controller, ControllerContext

log = logging.getLogger(__name__)
RESYNC_SECONDS = 300.0  # upstream's --resource-quota-sync-period
SETTLE_SECONDS = 1.0
_WATCHED = ("pods", "services", "persistentvolumeclaims", "configmaps", "secrets")


class ResourceQuotaController(Controller):
    name = "resourcequota"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.quotas = self.informer("resourcequotas")
        self.quotas.add_handlers(Handlers(on_add=self.enqueue,
                                          on_update=lambda _o, n: self.enqueue(n)))
        for plural in _WATCHED:
            self.informer(plural).add_handlers(Handlers(
                on_add=self._changed, on_update=lambda _o, n: self._changed(n),
                on_delete=self._changed))
        # quota key -> (resourceVersion, usage) of a recount that was lower than recorded
        self.lower: dict[str, tuple[str, dict[str, str]]] = {}

    def _changed(self, obj: Obj) -> None:
        for quota in self.quotas.by_index("namespace", obj["metadata"].get("namespace", "")):
            self.enqueue(quota)

    async def count(self, quota: Obj) -> dict[str, Fraction]:
        """The quota's usage, counted from consistent lists of its namespace."""
        namespace = quota["metadata"]["namespace"]
        objects: list[tuple[str, str, Obj]] = []
        for plural, group in sorted(quotas.sources((quota.get("spec") or {}).get("hard") or {})):
            try:
                kind = resolve(f"{plural}.{group}" if group else plural)
            except KeyError:
                continue  # a kind this client does not know (a custom resource): not counted
            objects += [(plural, group, o) async for o in self.client.list_all(
                kind, namespace=namespace)]
        return quotas.total(objects, quota)

    async def reconcile(self, key: str) -> Result:
        namespace, _, name = key.partition("/")
        try:
            quota = await self.client.get("resourcequotas", name, namespace=namespace)
        except NotFound:
            self.lower.pop(key, None)
            return DONE
        hard = dict((quota.get("spec") or {}).get("hard") or {})
        status = quota.get("status") or {}
        recorded = {k: parse_quantity(v) for k, v in (status.get("used") or {}).items()
                    if k in hard}
        counted = await self.count(quota)
        used = quotas.render(counted)
        rv = quota["metadata"].get("resourceVersion", "")
        if status.get("hard") == hard and (status.get("used") or {}) == used:
            self.lower.pop(key, None)
            return Result(requeue_after=RESYNC_SECONDS)
        lowers = any(counted[k] < recorded[k] for k in counted if k in recorded)
        if lowers and self.lower.get(key) != (rv, used):
            self.lower[key] = (rv, used)  # confirm once nothing has been charged meanwhile
            return Result(requeue_after=SETTLE_SECONDS)
        self.lower.pop(key, None)
        try:
            await self.client.replace_status("resourcequotas", {
                **quota, "status": {**status, "hard": hard, "used": used}})
        except Conflict:
            return Result(requeue=True)
        except NotFound:
            return DONE
        return Result(requeue_after=RESYNC_SECONDS)
