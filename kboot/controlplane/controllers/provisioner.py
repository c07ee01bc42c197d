"""The local-path provisioner's control-plane half (provisioner ``kboot.io/local-path``).

It runs in the controller-manager, with the controller-manager's identity; the node half (the
directory itself) is the kubelet's (:mod:`kboot.controlplane.kubelet.localpath`):

- **Provision**: an unbound claim of a class with this provisioner gets a PV ``pvc-<claim uid>``
  pre-bound to it (``claimRef``), a ``hostPath`` under ``/var/lib/kboot/local-path`` and a
  required node affinity to one node: the node the scheduler chose for the claim's first pod
  (``volume.kubernetes.io/selected-node``, class ``WaitForFirstConsumer``) or, for an
  ``Immediate`` class, the ready schedulable node holding the fewest local-path volumes. The
  binder (:mod:`.volumes`) then binds the claim to it; the kubelet creates the directory when
  the first pod mounts it.
- **Reclaim**: a Released volume with ``reclaimPolicy: Delete`` is deleted; its
  ``kboot.io/local-path-data`` finalizer keeps it until the node's kubelet has removed the
  directory (or, if that node is gone from the cluster, here: its data went with it).
  ``Retain`` leaves volume and data alone.
- **Expand**: a bound claim that asks for more than its volume's capacity, in a class with
  ``allowVolumeExpansion`` (admission refuses the rest), gets the new size recorded on the PV
  and in the claim's ``status.capacity``; a directory has no quota, so nothing else changes.

Keys are ``claim|<ns>/<name>`` and ``volume|<name>``; decisions are the pure
:func:`provisioned_volume`, :func:`pick_node` and :func:`wants_reclaim`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.api.storageclasses import (
    DATA_FINALIZER,
    HOSTNAME,
    LOCAL_PATH_DIR,
    LOCAL_PATH_PROVISIONER,
    PROVISIONED_BY,
    SELECTED_NODE,
    WAIT,
    binding_mode,
    claim_class,
    local_path_dir,
    pinned_node,
    requested,
)
from kboot.controlplane.api.tolerations import first_untolerated
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.errors import AlreadyExists, NotFound
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.client.meta import is_deleting, key_of
from kboot.controlplane.controllers.base import Controller, ControllerContext
from kboot.controlplane.controllers.volumes import storage_bytes

log = logging.getLogger(__name__)


def provisioned_volume(claim: Obj, sc: Obj, *, node: str, base: str = LOCAL_PATH_DIR) -> Obj:
    """The PV that holds ``claim``'s data on ``node``."""
    meta, spec = claim["metadata"], claim.get("spec") or {}
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    term = {"matchExpressions": [{"key": HOSTNAME, "operator": "In", "values": [node]}]}
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{meta['uid']}", "finalizers": [DATA_FINALIZER],
                     "annotations": {PROVISIONED_BY: LOCAL_PATH_PROVISIONER}},
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
            "storageClassName": claim_class(claim),
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "hostPath": {"path": local_path_dir(base, claim), "type": "DirectoryOrCreate"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "namespace": meta["namespace"], "name": meta["name"],
                         "uid": meta["uid"]},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [term]}},
        },
    }


def _usable(node: Obj) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    spec = node.get("spec") or {}
    return ready and not spec.get("unschedulable") and first_untolerated(
        spec.get("taints") or [], []) is None


def pick_node(nodes: Iterable[Obj], volumes: Iterable[Obj]) -> str | None:
    """For an ``Immediate`` class: the usable node with the fewest local-path volumes."""
    load: dict[str, int] = {}
    for pv in volumes:
        node = pinned_node(pv)
        if node and _ours(pv):
            load[node] = load.get(node, 0) + 1
    names = sorted(str(n["metadata"]["name"]) for n in nodes if _usable(n))
    return min(names, key=lambda n: (load.get(n, 0), n)) if names else None


def _ours(pv: Obj) -> bool:
    notes = (pv.get("metadata") or {}).get("annotations") or {}
    return notes.get(PROVISIONED_BY) == LOCAL_PATH_PROVISIONER


def wants_reclaim(pv: Obj) -> bool:
    """A Released local-path volume whose policy is Delete, not yet being deleted."""
    spec, phase = pv.get("spec") or {}, (pv.get("status") or {}).get("phase")
    return (_ours(pv) and phase == "Released" and not is_deleting(pv)
            and spec.get("persistentVolumeReclaimPolicy") == "Delete")


class LocalPathProvisioner(Controller):
    name = "local-path-provisioner"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.claims = self.informer("persistentvolumeclaims")
        self.volumes = self.informer("persistentvolumes")
        self.classes = self.informer("storageclasses")
        self.nodes = self.informer("nodes")
        self.claims.add_handlers(Handlers(
            on_add=self._claim, on_update=lambda _o, c: self._claim(c)))
        self.volumes.add_handlers(Handlers(
            on_add=self._volume, on_update=lambda _o, v: self._volume(v)))
        self.classes.add_handlers(Handlers(on_add=lambda _c: self._all_claims()))
        self.nodes.add_handlers(Handlers(on_add=lambda _n: self._all_claims(),
                                         on_delete=lambda _n: self._all_volumes()))

    def _claim(self, claim: Obj) -> None:
        self.queue.add(f"claim|{key_of(claim)}")

    def _volume(self, pv: Obj) -> None:
        self.queue.add(f"volume|{pv['metadata']['name']}")

    def _all_claims(self) -> None:
        for claim in self.claims.objects():
            if not (claim.get("spec") or {}).get("volumeName"):
                self._claim(claim)

    def _all_volumes(self) -> None:
        for pv in self.volumes.objects():
            self._volume(pv)

    def _class(self, claim: Obj) -> Obj | None:
        sc = self.classes.get(claim_class(claim)) if claim_class(claim) else None
        return sc if sc is not None and sc.get("provisioner") == LOCAL_PATH_PROVISIONER else None

    async def reconcile(self, key: str) -> Result:
        kind, _, rest = key.partition("|")
        if kind == "claim":
            claim = self.claims.get(rest)
            if claim is not None and not is_deleting(claim):
                sc = self._class(claim)
                if sc is not None:
                    await self._provision_or_expand(claim, sc)
        else:
            await self._reclaim(rest)
        return DONE

    async def _provision_or_expand(self, claim: Obj, sc: Obj) -> None:
        name = (claim.get("spec") or {}).get("volumeName")
        if name:
            await self._expand(claim, sc, name)
            return
        if binding_mode(sc) == WAIT:
            node = ((claim["metadata"].get("annotations") or {}).get(SELECTED_NODE))
        else:
            node = pick_node(self.nodes.objects(), self.volumes.objects())
        if not node:
            return
        pv = provisioned_volume(claim, sc, node=node)
        if self.volumes.get(pv["metadata"]["name"]) is not None:
            return  # made already: the binder binds it
        try:
            await self.client.create("persistentvolumes", pv)
        except AlreadyExists:
            return
        self.ctx.recorder.event(claim, "Normal", "ProvisioningSucceeded",
                                f"Successfully provisioned volume {pv['metadata']['name']} "
                                f"on node {node}")
        log.info("provisioned %s for claim %s on %s", pv["metadata"]["name"], key_of(claim),
                 node)

    async def _expand(self, claim: Obj, sc: Obj, pv_name: str) -> None:
        pv = self.volumes.get(pv_name)
        if pv is None or not _ours(pv) or not sc.get("allowVolumeExpansion"):
            return
        want = ((claim["spec"].get("resources") or {}).get("requests") or {}).get("storage")
        have = ((pv.get("spec") or {}).get("capacity") or {}).get("storage")
        shown = ((claim.get("status") or {}).get("capacity") or {}).get("storage")
        if requested(claim) > storage_bytes(have):
            await self.client.patch("persistentvolumes", pv_name,
                                    {"spec": {"capacity": {"storage": want}}})
        elif requested(claim) <= storage_bytes(shown):
            return
        meta = claim["metadata"]
        await self.client.patch_status("persistentvolumeclaims", meta["name"],
                                       namespace=meta["namespace"],
                                       patch={"status": {"capacity": {"storage": want}}})
        self.ctx.recorder.event(claim, "Normal", "VolumeResizeSuccessful",
                                f"resize volume {pv_name} to {want} (local-path: the size is "
                                "recorded, a directory has no quota)")

    async def _reclaim(self, name: str) -> None:
        pv = self.volumes.get(name)
        if pv is None:
            return
        if wants_reclaim(pv):
            try:
                await self.client.delete("persistentvolumes", name)
            except NotFound:
                return
            log.info("reclaiming %s: its node removes the data", name)
        elif is_deleting(pv) and DATA_FINALIZER in (pv["metadata"].get("finalizers") or []):
            node = pinned_node(pv)
            if node is not None and self.nodes.get(node) is None:
                await self._drop_finalizer(pv)  # the node is gone, and its disk with it

    async def _drop_finalizer(self, pv: Obj) -> None:
        meta = pv["metadata"]
        left = [f for f in meta.get("finalizers") or [] if f != DATA_FINALIZER]
        try:  # a Conflict goes to the queue, which retries on fresh state
            await self.client.patch("persistentvolumes", meta["name"], {"metadata": {
                "finalizers": left, "resourceVersion": meta.get("resourceVersion")}})
        except NotFound:
            return
