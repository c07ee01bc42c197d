"""ReplicaSet: keep ``spec.replicas`` active pods matching the template, owned by the set.

Creates go out in slow-start batches (1, 2, 4, …) so a broken template fails fast; deletes
pick unscheduled, pending, not-ready and newest pods first. Expectations stop a lagging cache
from causing double creates. Status carries replicas/ready/available/observedGeneration.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kboot.controlplane.api.owners import controller_of, controller_uid
from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.api import DeleteOptions
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.errors import NotFound
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.client.meta import is_deleting, key_of, split_key
from kboot.controlplane.controllers import pods as podlib
from kboot.controlplane.controllers.base import Controller, ControllerContext
from kboot.controlplane.controllers.expectations import Expectations

log = logging.getLogger(__name__)
BURST = 500


class ReplicaSetController(Controller):
    name = "replicaset"
    # the kind it manages: ReplicationController reuses all of this (its controller.py subclass)
    plural = "replicasets"
    owner_kind = "ReplicaSet"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sets = self.informer(self.plural)
        self.pods = self.informer("pods")
        self.expectations = Expectations(ctx.clock)
        self.sets.add_handlers(Handlers(on_add=self.enqueue,
                                        on_update=lambda _o, n: self.enqueue(n),
                                        on_delete=self._set_deleted))
        self.pods.add_handlers(Handlers(on_add=self._pod_added, on_update=self._pod_updated,
                                        on_delete=self._pod_deleted))

    def _set_deleted(self, rs: Obj) -> None:
        self.expectations.forget(key_of(rs))

    def _owner_key(self, pod: Obj) -> str | None:
        ref = controller_of(pod)
        if ref and ref.get("kind") == self.owner_kind:
            return f"{pod['metadata']['namespace']}/{ref['name']}"
        return None

    def _pod_added(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key:
            self.expectations.observed_add(key)
            self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = self._owner_key(new)
        if key:
            if is_deleting(new) and not is_deleting(old):
                self.expectations.observed_delete(key)
            self.queue.add(key)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key:
            if not is_deleting(pod):
                self.expectations.observed_delete(key)
            self.queue.add(key)

    def owned_pods(self, rs: Obj) -> list[Obj]:
        uid = rs["metadata"]["uid"]
        return [p for p in self.pods.by_index("owner", uid)
                if controller_uid(p) == uid]

    async def reconcile(self, key: str) -> Result:
        rs = self.sets.get(key)
        if rs is None or is_deleting(rs):
            return DONE
        owned = self.owned_pods(rs)
        active = [p for p in owned if podlib.is_active(p)]
        if self.expectations.satisfied(key):
            diff = int(rs["spec"].get("replicas", 1)) - len(active)
            if diff > 0:
                await self._create(rs, key, min(diff, BURST))
            elif diff < 0:
                await self._delete(rs, key, sorted(active, key=podlib.deletion_rank)[:-diff])
        await self._update_status(rs, owned)
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        if min_ready and any(podlib.is_ready(p) for p in active):
            return Result(requeue_after=float(min_ready))
        return DONE

    async def _create(self, rs: Obj, key: str, count: int) -> None:
        self.expectations.expect(key, adds=count)
        body = podlib.from_template(rs["spec"]["template"], rs)
        done, batch = 0, 1
        while done < count:
            n = min(batch, count - done)
            results = await asyncio.gather(
                *(self.client.create("pods", body) for _ in range(n)), return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
            done += n
            if failed:
                self.expectations.lower(key, adds=len(failed) + count - done)
                self.ctx.recorder.event(rs, "Warning", "FailedCreate",
                                        f"Error creating: {failed[0]}")
                raise failed[0]
            batch *= 2
        self.ctx.recorder.event(rs, "Normal", "SuccessfulCreate",
                                f"Created {count} pod(s)")

    async def _delete(self, rs: Obj, key: str, victims: list[Obj]) -> None:
        self.expectations.expect(key, deletes=len(victims))

        async def one(pod: Obj) -> None:
            md = pod["metadata"]
            try:
                await self.client.delete("pods", md["name"], namespace=md["namespace"],
                                         options=DeleteOptions(preconditions={"uid": md["uid"]}))
            except NotFound:
                self.expectations.lower(key, deletes=1)
        await asyncio.gather(*(one(p) for p in victims))
        names = ", ".join(p["metadata"]["name"] for p in victims[:5])
        self.ctx.recorder.event(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {names}")

    async def _update_status(self, rs: Obj, owned: list[Obj]) -> None:
        status = compute_status(rs, owned, self.clock.time())
        old = rs.get("status") or {}
        if all(old.get(k, 0) == v for k, v in status.items() if k != "conditions"):
            return
        ns, name = split_key(key_of(rs))
        try:
            await self.client.patch_status(self.plural, name, namespace=ns,
                                           patch={"status": status})
        except NotFound:
            return


def compute_status(rs: Obj, owned: list[Obj], now: float) -> dict[str, Any]:
    active = [p for p in owned if podlib.is_active(p)]
    tmpl_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(rs["spec"].get("minReadySeconds") or 0)
    return {
        "replicas": len(active),
        "fullyLabeledReplicas": sum(
            all((p["metadata"].get("labels") or {}).get(k) == v for k, v in tmpl_labels.items())
            for p in active),
        "readyReplicas": sum(podlib.is_ready(p) for p in active),
        "availableReplicas": sum(podlib.is_available(p, min_ready, now) for p in active),
        "observedGeneration": rs["metadata"].get("generation", 1),
    }
