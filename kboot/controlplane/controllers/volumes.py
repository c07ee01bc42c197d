"""The PersistentVolume binder: static provisioning (pre-created PVs) for claims.

- An unbound claim (no ``spec.volumeName``) is bound to the smallest Available PV with the
  same ``storageClassName``, every requested access mode and enough capacity (a PV whose
  ``claimRef`` names the claim is taken first): the PV gets ``claimRef`` and phase Bound, the
  claim ``volumeName`` and phase Bound with the PV's capacity and modes.
- A claim of a ``WaitForFirstConsumer`` class binds only to a PV made for it (``claimRef``
  naming it: the provisioner's, see :mod:`.provisioner`), never to any fitting one, so its
  data lands on the node the scheduler chose. Claims wait with an event saying why: for their
  first consumer, or for a StorageClass that does not exist (named in the event).
- A PV whose claim is gone becomes Released (it is never deleted here: reclaiming data is the
  provisioner's business); an unclaimed PV is marked Available; a PV whose claim names it
  (``spec.volumeName``) is marked Bound.
Keys are ``claim|<ns>/<name>`` and ``volume|<name>``.
"""

from __future__ import annotations

import logging
from typing import Any

from kboot.controlplane.api.quantities import parse_quantity
from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.api.storageclasses import WAIT, binding_mode, claim_class
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.client.meta import is_deleting, key_of, split_key
from kboot.controlplane.controllers.base import Controller, ControllerContext

log = logging.getLogger(__name__)


def storage_bytes(value: Any) -> int:
    return int(parse_quantity(str(value or "0")))


def _wants(claim: Obj) -> tuple[str, set[str], int]:
    spec = claim.get("spec") or {}
    request = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    return (str(spec.get("storageClassName") or ""), set(spec.get("accessModes") or []),
            storage_bytes(request))


def matches(claim: Obj, pv: Obj) -> bool:
    cls, modes, size = _wants(claim)
    spec = pv.get("spec") or {}
    ref = spec.get("claimRef")
    if ref and (ref.get("name"), ref.get("namespace")) != (
            claim["metadata"]["name"], claim["metadata"]["namespace"]):
        return False
    if ref and ref.get("uid") and ref["uid"] != claim["metadata"].get("uid"):
        return False
    return (str(spec.get("storageClassName") or "") == cls
            and modes <= set(spec.get("accessModes") or [])
            and storage_bytes((spec.get("capacity") or {}).get("storage")) >= size
            and not is_deleting(pv))


def best_volume(claim: Obj, volumes: list[Obj]) -> Obj | None:
    """The pre-bound PV for the claim if any, else the smallest fitting unclaimed one."""
    fitting = [pv for pv in volumes if matches(claim, pv)
               and (pv.get("status") or {}).get("phase", "Available") in ("Available", "")]
    fitting.sort(key=lambda pv: (not (pv.get("spec") or {}).get("claimRef"),
                                 storage_bytes(pv["spec"].get("capacity", {}).get("storage"))))
    return fitting[0] if fitting else None


class VolumeBinder(Controller):
    name = "persistentvolume-binder"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.claims = self.informer("persistentvolumeclaims")
        self.volumes = self.informer("persistentvolumes")
        self.classes = self.informer("storageclasses")
        claim = Handlers(on_add=self._claim, on_update=lambda _o, c: self._claim(c),
                         on_delete=self._claim_gone)
        self.claims.add_handlers(claim)
        self.volumes.add_handlers(Handlers(on_add=self._volume,
                                           on_update=lambda _o, v: self._volume(v)))

    def _claim(self, claim: Obj) -> None:
        self.queue.add(f"claim|{key_of(claim)}")
        name = (claim.get("spec") or {}).get("volumeName")
        if name:  # its volume's phase follows the binding
            self.queue.add(f"volume|{name}")

    def _claim_gone(self, claim: Obj) -> None:
        name = (claim.get("spec") or {}).get("volumeName")
        if name:
            self.queue.add(f"volume|{name}")

    def _volume(self, pv: Obj) -> None:
        self.queue.add(f"volume|{pv['metadata']['name']}")
        for claim in self.claims.objects():  # a new PV may satisfy a waiting claim
            if not (claim.get("spec") or {}).get("volumeName"):
                self._claim(claim)

    async def reconcile(self, key: str) -> Result:
        kind, _, rest = key.partition("|")
        if kind == "claim":
            await self._bind(rest)
        else:
            await self._sync_volume(rest)
        return DONE

    async def _bind(self, key: str) -> None:
        claim = self.claims.get(key)
        if claim is None or is_deleting(claim) or (claim.get("spec") or {}).get("volumeName"):
            return
        pv = best_volume(claim, self.volumes.objects())
        if pv is None or (not (pv.get("spec") or {}).get("claimRef") and self._waits(claim)):
            self._explain(claim)
            return
        md, ns = claim["metadata"], split_key(key)[0]
        ref = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": ns,
               "name": md["name"], "uid": md["uid"]}
        pv_name = pv["metadata"]["name"]
        await self.client.patch("persistentvolumes", pv_name, {"spec": {"claimRef": ref}})
        await self.client.patch_status("persistentvolumes", pv_name,
                                       {"status": {"phase": "Bound"}})
        await self.client.patch("persistentvolumeclaims", md["name"], namespace=ns,
                                patch={"spec": {"volumeName": pv_name}})
        await self.client.patch_status("persistentvolumeclaims", md["name"], namespace=ns,
                                       patch={"status": {
                                           "phase": "Bound",
                                           "accessModes": pv["spec"].get("accessModes"),
                                           "capacity": pv["spec"].get("capacity")}})
        log.info("bound claim %s to volume %s", key, pv_name)

    def _waits(self, claim: Obj) -> bool:
        """A WaitForFirstConsumer claim binds only to the volume provisioned for it."""
        sc = self.classes.get(claim_class(claim)) if claim_class(claim) else None
        return sc is not None and binding_mode(sc) == WAIT

    def _explain(self, claim: Obj) -> None:
        """Upstream's events on a claim that stays Pending."""
        name = claim_class(claim)
        if name and self.classes.get(name) is None:
            self.ctx.recorder.event(claim, "Warning", "ProvisioningFailed",
                                    f'storageclass.storage.k8s.io "{name}" not found')
        elif self._waits(claim):
            self.ctx.recorder.event(claim, "Normal", "WaitForFirstConsumer",
                                    "waiting for first consumer to be created before binding")

    async def _sync_volume(self, name: str) -> None:
        pv = self.volumes.get(name)
        if pv is None or is_deleting(pv):
            return
        ref = (pv.get("spec") or {}).get("claimRef")
        phase = (pv.get("status") or {}).get("phase")
        unclaimed = "Available" if phase in (None, "", "Pending") else phase
        if not ref:
            want = "Available"
        else:
            claim = self.claims.get(f"{ref.get('namespace')}/{ref.get('name')}")
            gone = claim is None or (ref.get("uid") and claim["metadata"]["uid"] != ref["uid"])
            if gone or claim is None:
                # a claimRef with a uid names one claim, which is gone: released
                want = "Released" if phase == "Bound" or ref.get("uid") else unclaimed
            elif (claim.get("spec") or {}).get("volumeName") == name:
                want = "Bound"
            else:  # pre-bound (e.g. provisioned for the claim), waiting to be bound
                want = unclaimed
        if want != phase:
            await self.client.patch_status("persistentvolumes", name,
                                           {"status": {"phase": want}})
