"""StatefulSet: pods with stable names ``<set>-<ordinal>`` and their own PVCs.

- ``OrderedReady`` (default): ordinal *i* is created only once 0…i-1 are Running and Ready;
  scale-down deletes the highest ordinal first, one at a time, waiting for it to be gone.
  ``Parallel`` creates and deletes without waiting.
- ``volumeClaimTemplates`` become PVCs ``<template>-<set>-<ordinal>`` created before the pod
  and kept after it (retention policy Retain).
- Each template is recorded as a ControllerRevision (:mod:`.revisions`); pods carry
  ``controller-revision-hash``. RollingUpdate replaces pods from the highest ordinal down to
  ``partition``, one at a time, each only when all others are ready; ``status.currentRevision``
  becomes ``updateRevision`` once every pod runs it.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from typing import Any

from kboot.controlplane.api.owners import controller_uid
from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.errors import AlreadyExists
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.client.meta import is_deleting
from kboot.controlplane.controllers import pods as podlib
from kboot.controlplane.controllers.base import Controller, ControllerContext
from kboot.controlplane.controllers.revisions import ensure_revision

log = logging.getLogger(__name__)
REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def ordinal(set_name: str, pod: Obj) -> int | None:
    name = pod["metadata"]["name"]
    prefix, _, idx = name.rpartition("-")
    return int(idx) if prefix == set_name and idx.isdigit() else None


def claim_name(template: Obj, sts: Obj, i: int) -> str:
    return f"{template['metadata']['name']}-{sts['metadata']['name']}-{i}"


def pod_for(sts: Obj, i: int, revision: str) -> Obj:
    name = f"{sts['metadata']['name']}-{i}"
    pod = podlib.from_template(sts["spec"]["template"], sts, name=name, extra_labels={
        REVISION_LABEL: revision, POD_NAME_LABEL: name, POD_INDEX_LABEL: str(i)})
    spec = pod["spec"]
    spec["hostname"] = name
    if sts["spec"].get("serviceName"):
        spec["subdomain"] = sts["spec"]["serviceName"]
    volumes = [v for v in spec.get("volumes") or []]
    for tmpl in sts["spec"].get("volumeClaimTemplates") or []:
        vname = tmpl["metadata"]["name"]
        volumes = [v for v in volumes if v.get("name") != vname]
        volumes.append({"name": vname,
                        "persistentVolumeClaim": {"claimName": claim_name(tmpl, sts, i)}})
    if volumes:
        spec["volumes"] = volumes
    return pod


class StatefulSetController(Controller):
    name = "statefulset"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sets = self.informer("statefulsets")
        self.pods = self.informer("pods")
        self.claims = self.informer("persistentvolumeclaims")
        self.revisions = self.informer("controllerrevisions")
        self.sets.add_handlers(Handlers(on_add=self.enqueue,
                                        on_update=lambda _o, n: self.enqueue(n)))
        owner = Handlers(on_add=lambda p: self.enqueue_controller(p, "StatefulSet"),
                         on_update=lambda _o, p: self.enqueue_controller(p, "StatefulSet"),
                         on_delete=lambda p: self.enqueue_controller(p, "StatefulSet"))
        self.pods.add_handlers(owner)

    def _owned(self, sts: Obj) -> dict[int, Obj]:
        uid, name = sts["metadata"]["uid"], sts["metadata"]["name"]
        out: dict[int, Obj] = {}
        for pod in self.pods.by_index("owner", uid):
            i = ordinal(name, pod)
            if i is not None and controller_uid(pod) == uid:
                out[i] = pod
        return out

    async def reconcile(self, key: str) -> Result:
        sts = self.sets.get(key)
        if sts is None or is_deleting(sts):
            return DONE
        revision = await ensure_revision(self.client, self.revisions, sts)
        pods = self._owned(sts)
        ordered = sts["spec"].get("podManagementPolicy", "OrderedReady") != "Parallel"
        await self._converge(sts, pods, revision, ordered)
        await self._sync_status(sts, self._owned(sts), revision)
        return DONE

    async def _converge(self, sts: Obj, pods: dict[int, Obj], revision: str,
                        ordered: bool) -> None:
        replicas = int(sts["spec"].get("replicas", 1))
        for i in range(replicas):
            pod = pods.get(i)
            if pod is None:
                await self._create(sts, i, revision)
                if ordered:
                    return
            elif podlib.phase(pod) in ("Failed", "Succeeded") and not is_deleting(pod):
                await self._delete(pod)
                if ordered:
                    return
            elif ordered and not podlib.is_ready(pod):
                return
        condemned = sorted((i for i in pods if i >= replicas), reverse=True)
        for i in condemned:
            if not is_deleting(pods[i]):
                await self._delete(pods[i])
            if ordered:
                return
        if condemned:
            return
        await self._roll(sts, pods, revision, replicas)

    async def _roll(self, sts: Obj, pods: dict[int, Obj], revision: str, replicas: int) -> None:
        strategy = sts["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        if not all(i in pods and podlib.is_ready(pods[i]) for i in range(replicas)):
            return
        for i in range(replicas - 1, partition - 1, -1):
            if (pods[i]["metadata"].get("labels") or {}).get(REVISION_LABEL) != revision:
                await self._delete(pods[i])
                return

    async def _create(self, sts: Obj, i: int, revision: str) -> None:
        for tmpl in sts["spec"].get("volumeClaimTemplates") or []:
            name = claim_name(tmpl, sts, i)
            ns = sts["metadata"]["namespace"]
            if self.claims.get(f"{ns}/{name}") is None:
                claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"name": name, "namespace": ns,
                                      "labels": dict(sts["spec"]["selector"].get(
                                          "matchLabels") or {})},
                         "spec": copy.deepcopy(tmpl.get("spec") or {})}
                with contextlib.suppress(AlreadyExists):
                    await self.client.create("persistentvolumeclaims", claim)
        try:
            await self.client.create("pods", pod_for(sts, i, revision))
        except AlreadyExists:
            return
        self.ctx.recorder.event(sts, "Normal", "SuccessfulCreate",
                                f"create Pod {sts['metadata']['name']}-{i} in StatefulSet "
                                f"{sts['metadata']['name']} successful")

    async def _delete(self, pod: Obj) -> None:
        md = pod["metadata"]
        await self.client.delete("pods", md["name"], namespace=md["namespace"])

    async def _sync_status(self, sts: Obj, pods: dict[int, Obj], revision: str) -> None:
        status = statefulset_status(sts, list(pods.values()), revision)
        old = sts.get("status") or {}
        if all(old.get(k) == v for k, v in status.items()):
            return
        md = sts["metadata"]
        await self.client.patch_status("statefulsets", md["name"], namespace=md["namespace"],
                                       patch={"status": status})


def statefulset_status(sts: Obj, pods: list[Obj], revision: str) -> dict[str, Any]:
    live = [p for p in pods if not is_deleting(p)]
    updated = [p for p in live if (p["metadata"].get("labels") or {}).get(REVISION_LABEL)
               == revision]
    replicas = int(sts["spec"].get("replicas", 1))
    current = (sts.get("status") or {}).get("currentRevision") or revision
    if len(updated) == replicas == len(live):
        current = revision
    ready = sum(podlib.is_ready(p) for p in live)
    return {"observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(live),
            "readyReplicas": ready, "availableReplicas": ready,
            "currentReplicas": len(updated) if current == revision else len(live) - len(updated),
            "updatedReplicas": len(updated), "currentRevision": current,
            "updateRevision": revision, "collisionCount": 0}
