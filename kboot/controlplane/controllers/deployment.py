"""Deployment: one ReplicaSet per pod template (named ``<deployment>-<pod-template-hash>``),
rolled with RollingUpdate (see :mod:`rollout`) or Recreate.

Revisions live in the ``deployment.kubernetes.io/revision`` annotation of each ReplicaSet;
the current one is copied to the Deployment. ``kubectl rollout undo`` writes an old template
back, whose hash names the existing old ReplicaSet: it is reused and given the next revision.
``revisionHistoryLimit`` bounds the scaled-down sets kept. Status and the Available and
Progressing conditions are what ``kubectl get``/``rollout status`` read.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from kboot.controlplane.api.owners import controller_uid, owner_reference
from kboot.controlplane.api.shapes import Obj, metadata
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.errors import AlreadyExists
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.client.meta import format_time, is_deleting, parse_time
from kboot.controlplane.controllers import pods as podlib
from kboot.controlplane.controllers import rollout
from kboot.controlplane.controllers.base import Controller, ControllerContext

log = logging.getLogger(__name__)
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
NOT_COPIED = (REVISION, DESIRED, MAX_REPLICAS,
              "kubectl.kubernetes.io/last-applied-configuration")


def revision(obj: Obj) -> int:
    try:
        return int((metadata(obj).get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def _spec_replicas(obj: Obj) -> int:
    return int((obj.get("spec") or {}).get("replicas", 1))


def _counts(rs: Obj) -> rollout.RSCounts:
    return rollout.RSCounts(rs["metadata"]["name"], _spec_replicas(rs),
                            int((rs.get("status") or {}).get("availableReplicas") or 0))


class DeploymentController(Controller):
    name = "deployment"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.deployments = self.informer("deployments")
        self.sets = self.informer("replicasets")
        self.deployments.add_handlers(Handlers(on_add=self.enqueue,
                                               on_update=lambda _o, n: self.enqueue(n)))
        requeue = Handlers(on_add=lambda rs: self.enqueue_controller(rs, "Deployment"),
                           on_update=lambda _o, rs: self.enqueue_controller(rs, "Deployment"),
                           on_delete=lambda rs: self.enqueue_controller(rs, "Deployment"))
        self.sets.add_handlers(requeue)

    def owned_sets(self, d: Obj) -> list[Obj]:
        uid = d["metadata"]["uid"]
        owned = [rs for rs in self.sets.by_index("owner", uid)
                 if controller_uid(rs) == uid]
        return sorted(owned, key=lambda rs: (revision(rs), rs["metadata"]["name"]))

    async def reconcile(self, key: str) -> Result:
        d = self.deployments.get(key)
        if d is None or is_deleting(d):
            return DONE
        sets = self.owned_sets(d)
        if d["spec"].get("paused"):  # paused: no new ReplicaSet, no scaling, status only
            current = self._matching_set(d, sets) or (sets[-1] if sets else None)
            if current is not None:
                await self._sync_status(d, current, [s for s in sets if s is not current])
            return DONE
        new = await self._ensure_new_set(d, sets)
        olds = [rs for rs in sets if rs["metadata"]["uid"] != new["metadata"]["uid"]]
        if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            await self._recreate(d, new, olds)
        else:
            await self._rolling(d, new, olds)
        await self._cleanup(d, olds)
        status = await self._sync_status(d, new, olds)
        if (podlib.condition({"status": status}, "Progressing") or {}).get("reason") == \
                "ReplicaSetUpdated":
            return Result(requeue_after=progress_deadline(d) + 1)
        return DONE

    def _matching_set(self, d: Obj, sets: list[Obj]) -> Obj | None:
        tmpl_hash = podlib.template_hash(d["spec"]["template"])
        for rs in sets:
            labels = metadata(rs["spec"]["template"]).get("labels") or {}
            if labels.get(podlib.TEMPLATE_HASH) == tmpl_hash:
                return rs
        return None

    async def _ensure_new_set(self, d: Obj, sets: list[Obj]) -> Obj:
        tmpl_hash = podlib.template_hash(d["spec"]["template"])
        top = max((revision(rs) for rs in sets), default=0)
        rs = self._matching_set(d, sets)
        if rs is not None:
            if revision(rs) < top or revision(rs) == 0:
                rs = await self._set_annotations("replicasets", rs, {REVISION: str(top + 1)})
            await self._mark_revision(d, revision(rs))
            return rs
        body = self._new_set_body(d, tmpl_hash, top + 1, sets)
        try:
            rs = await self.client.create("replicasets", body)
        except AlreadyExists:
            rs = await self.client.get("replicasets", body["metadata"]["name"],
                                       namespace=d["metadata"]["namespace"])
        self.ctx.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled up replica set {rs['metadata']['name']} from 0 to "
                                f"{_spec_replicas(rs)}")
        await self._mark_revision(d, top + 1)
        return rs

    def _new_set_body(self, d: Obj, tmpl_hash: str, rev: int, sets: list[Obj]) -> Obj:
        replicas = _spec_replicas(d)
        tmpl = copy.deepcopy(d["spec"]["template"])
        tmpl.setdefault("metadata", {}).setdefault("labels", {})[podlib.TEMPLATE_HASH] = tmpl_hash
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[podlib.TEMPLATE_HASH] = tmpl_hash
        live = [rs for rs in sets if _spec_replicas(rs) > 0]
        if not live:
            size = replicas
        elif (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            size = 0
        else:
            surge, _ = rollout.surge_and_unavailable(replicas, d["spec"].get("strategy") or {})
            size = rollout.new_rs_size(replicas, surge, rollout.RSCounts("", 0, 0),
                                       [_counts(rs) for rs in live])
        annotations = {k: v for k, v in (d["metadata"].get("annotations") or {}).items()
                       if k not in NOT_COPIED}
        annotations.update({REVISION: str(rev), DESIRED: str(replicas)})
        return {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{d['metadata']['name']}-{tmpl_hash}",
                         "namespace": d["metadata"]["namespace"],
                         "labels": dict(tmpl["metadata"]["labels"]),
                         "annotations": annotations, "ownerReferences": [owner_reference(d)]},
            "spec": {"replicas": size, "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                     "selector": selector, "template": tmpl},
        }

    async def _set_annotations(self, ref: str, obj: Obj, annotations: dict[str, str]) -> Obj:
        md = obj["metadata"]
        return await self.client.patch(ref, md["name"], {"metadata": {"annotations": annotations}},
                                       namespace=md["namespace"])

    async def _mark_revision(self, d: Obj, rev: int) -> None:
        if revision(d) != rev:
            await self._set_annotations("deployments", d, {REVISION: str(rev)})

    async def _scale(self, d: Obj, rs: Obj, size: int) -> None:
        old = _spec_replicas(rs)
        if old == size:
            return
        md = rs["metadata"]
        await self.client.patch("replicasets", md["name"], namespace=md["namespace"], patch={
            "spec": {"replicas": size},
            "metadata": {"annotations": {DESIRED: str(_spec_replicas(d))}}})
        rs["spec"]["replicas"] = size
        verb = "up" if size > old else "down"
        self.ctx.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled {verb} replica set {md['name']} from {old} to {size}")

    async def _rolling(self, d: Obj, new: Obj, olds: list[Obj]) -> None:
        replicas = _spec_replicas(d)
        surge, unavailable = rollout.surge_and_unavailable(replicas,
                                                           d["spec"].get("strategy") or {})
        old_counts = [_counts(rs) for rs in olds]
        await self._scale(d, new, rollout.new_rs_size(replicas, surge, _counts(new), old_counts))
        sizes = rollout.old_rs_sizes(replicas, unavailable, _counts(new), old_counts)
        for rs in olds:
            if rs["metadata"]["name"] in sizes:
                await self._scale(d, rs, sizes[rs["metadata"]["name"]])
        if sizes:  # room freed: take it now rather than on the next event
            await self._scale(d, new, rollout.new_rs_size(
                replicas, surge, _counts(new), [_counts(rs) for rs in olds]))

    async def _recreate(self, d: Obj, new: Obj, olds: list[Obj]) -> None:
        for rs in olds:
            await self._scale(d, rs, 0)
        if any(int((rs.get("status") or {}).get("replicas") or 0) for rs in olds):
            return  # wait for the old pods to go
        await self._scale(d, new, _spec_replicas(d))

    async def _cleanup(self, d: Obj, olds: list[Obj]) -> None:
        limit = int(d["spec"].get("revisionHistoryLimit", 10))
        idle = [rs for rs in olds if _spec_replicas(rs) == 0
                and not int((rs.get("status") or {}).get("replicas") or 0)]
        for rs in idle[:max(0, len(idle) - limit)]:
            md = rs["metadata"]
            await self.client.delete("replicasets", md["name"], namespace=md["namespace"])

    async def _sync_status(self, d: Obj, new: Obj, olds: list[Obj]) -> dict[str, Any]:
        status = deployment_status(d, new, olds, now=self.clock.time())
        old = d.get("status") or {}
        if _status_key(old) != _status_key(status):
            md = d["metadata"]
            await self.client.patch_status("deployments", md["name"],
                                           namespace=md["namespace"], patch={"status": status})
        return status


def _status_key(status: dict[str, Any]) -> tuple[Any, ...]:
    conds = tuple(sorted((c.get("type"), c.get("status"), c.get("reason"))
                         for c in status.get("conditions") or []))
    fields = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
              "unavailableReplicas", "observedGeneration")
    return (*(status.get(f, 0) for f in fields), conds)


def deployment_status(d: Obj, new: Obj, olds: list[Obj], *, now: float) -> dict[str, Any]:
    """The Deployment's status from its ReplicaSets; ``now`` is wall time (epoch seconds)."""
    def total(field: str, sets: list[Obj]) -> int:
        return sum(int((rs.get("status") or {}).get(field) or 0) for rs in sets)

    every = [new, *olds]
    replicas = _spec_replicas(d)
    _, unavailable = rollout.surge_and_unavailable(replicas, d["spec"].get("strategy") or {})
    available = total("availableReplicas", every)
    updated = total("replicas", [new])
    status: dict[str, Any] = dict(d.get("status") or {})
    status.update(
        observedGeneration=d["metadata"].get("generation", 1),
        replicas=total("replicas", every), updatedReplicas=updated,
        readyReplicas=total("readyReplicas", every), availableReplicas=available,
        unavailableReplicas=max(0, sum(_spec_replicas(rs) for rs in every) - available))
    ts, name = format_time(now), new["metadata"]["name"]
    if available >= replicas - unavailable:
        podlib.set_condition(status, {"type": "Available", "status": "True",
                                      "reason": "MinimumReplicasAvailable",
                                      "message": "Deployment has minimum availability."}, ts)
    else:
        podlib.set_condition(status, {"type": "Available", "status": "False",
                                      "reason": "MinimumReplicasUnavailable",
                                      "message": "Deployment does not have minimum "
                                                 "availability."}, ts)
    complete = (updated == replicas and status["replicas"] == replicas
                and total("availableReplicas", [new]) == replicas)
    _progressing(d, status, complete=complete, name=name, ts=ts, now=now)
    return status


def _progressing(d: Obj, status: dict[str, Any], *, complete: bool, name: str,
                 ts: str, now: float) -> None:
    """Progressing: True while counts move; False (ProgressDeadlineExceeded) once they have
    not moved for ``progressDeadlineSeconds`` (600) mid-rollout, which fails
    ``kubectl rollout status``."""
    old = d.get("status") or {}
    cond = podlib.condition(d, "Progressing") or {}
    moved = any(old.get(k) != status.get(k) for k in ("updatedReplicas", "availableReplicas",
                                                      "replicas"))
    if complete:
        new = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
               "message": f'ReplicaSet "{name}" has successfully progressed.'}
    elif moved or not cond or cond.get("reason") == "NewReplicaSetAvailable":
        new = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
               "message": f'ReplicaSet "{name}" is progressing.'}
        podlib.set_condition(status, new, ts)
        for c in status["conditions"]:  # progress refreshes the clock even if text is equal
            if c["type"] == "Progressing":
                c["lastUpdateTime"] = ts
        return
    elif now - (parse_time(cond.get("lastUpdateTime")) or now) > \
            progress_deadline(d):
        new = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
               "message": f'ReplicaSet "{name}" has timed out progressing.'}
    else:
        return  # keep the current condition and its clock
    podlib.set_condition(status, new, ts)


def progress_deadline(d: Obj) -> float:
    return float(d["spec"].get("progressDeadlineSeconds", 600))
