"""The disruption controller: keeps every PodDisruptionBudget's ``status`` true to the pods it
selects (upstream's ``pkg/controller/disruption``).

``currentHealthy`` counts selected pods that are Ready and not being deleted, minus pods the
eviction subresource has just debited (``status.disruptedPods``, forgotten once the pod is
gone or after two minutes); ``desiredHealthy``/``expectedPods`` follow the budget's bound and
the scale of the pods' controllers (the rules are :mod:`kboot.controlplane.api.disruption`).
The status is written with the budget's resourceVersion, so a concurrent eviction's debit is
never overwritten: the write conflicts and the budget is recomputed.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

from kboot.controlplane.api import disruption
from kboot.controlplane.api.owners import controller_of
from kboot.controlplane.api.selectors import SelectorError, label_selector_from_dict
from kboot.controlplane.api.shapes import Obj, OwnerReference
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.errors import Conflict, NotFound
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.controllers.base import Controller, ControllerContext
from kboot.controlplane.errors import ControlPlaneError

log = logging.getLogger(__name__)
NO_PODS = "No matching pods found"


class ScaleUnknown(ControlPlaneError):
    """A selected pod's controller is not (yet) known, so the expected count is not either."""


class DisruptionController(Controller):
    name = "disruption"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.budgets = self.informer("poddisruptionbudgets")
        self.pods = self.informer("pods")
        self.owners = {kind: self.informer(kind) for kind in
                       ("replicasets", "deployments", "statefulsets")}
        self.budgets.add_handlers(Handlers(on_add=self.enqueue,
                                           on_update=lambda _o, n: self.enqueue(n)))
        self.pods.add_handlers(Handlers(on_add=self._pod, on_update=lambda _o, n: self._pod(n),
                                        on_delete=self._pod))
        for informer in self.owners.values():  # a scale change changes percentages
            informer.add_handlers(Handlers(on_update=lambda _o, n: self._namespace(n)))

    def _pod(self, pod: Obj) -> None:
        labels = pod["metadata"].get("labels") or {}
        for pdb in self.budgets.by_index("namespace", pod["metadata"]["namespace"]):
            if _selector(pdb) is not None and _matches(pdb, labels):
                self.enqueue(pdb)

    def _namespace(self, obj: Obj) -> None:
        for pdb in self.budgets.by_index("namespace", obj["metadata"]["namespace"]):
            self.enqueue(pdb)

    def selected(self, pdb: Obj) -> list[Obj]:
        if _selector(pdb) is None:
            return []
        return [p for p in self.pods.by_index("namespace", pdb["metadata"]["namespace"])
                if _matches(pdb, p["metadata"].get("labels") or {})]

    async def reconcile(self, key: str) -> Result:
        pdb = self.budgets.get(key)
        if pdb is None:
            return DONE
        pods = self.selected(pdb)
        if not pods:
            self.ctx.recorder.event(pdb, "Normal", "NoPods", NO_PODS)
        try:
            scale = self.expected_scale(pdb, pods)
        except ScaleUnknown as exc:
            self.ctx.recorder.event(pdb, "Warning", "CalculateExpectedPodCountFailed",
                                    f"Failed to calculate the number of expected pods: {exc}")
            return Result(requeue_after=5.0)
        status = self.compute(pdb, pods, scale)
        if status == pdb.get("status"):
            return self._recheck(status)
        try:
            await self.client.replace_status("poddisruptionbudgets", {**pdb, "status": status})
        except (Conflict, NotFound):
            return Result(requeue=True)  # an eviction debited it meanwhile: recompute
        return self._recheck(status)

    def _recheck(self, status: Obj) -> Result:
        """Pending disruptions expire after two minutes even if the pod never goes."""
        return Result(requeue_after=30.0) if status.get("disruptedPods") else DONE

    def compute(self, pdb: Obj, pods: list[Obj], scale: int) -> Obj:
        now = self.clock.now().astimezone(UTC)
        old = pdb.get("status") or {}
        by_name = {p["metadata"]["name"]: p for p in pods}
        pending = disruption.live_disruptions(old.get("disruptedPods") or {}, by_name, now)
        healthy = sum(1 for name, p in by_name.items()
                      if disruption.pod_ready(p) and name not in pending)
        wanted = disruption.budget(pdb.get("spec") or {}, len(pods), scale)
        allowed = disruption.disruptions_allowed(healthy, wanted)
        generation = pdb["metadata"].get("generation", 0)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        status: dict[str, Any] = {
            "observedGeneration": generation, "currentHealthy": healthy,
            "desiredHealthy": wanted.desired, "expectedPods": wanted.expected,
            "disruptionsAllowed": allowed,
            "conditions": [disruption.condition(allowed, generation, stamp,
                                                old.get("conditions") or [])],
        }
        if pending:
            status["disruptedPods"] = pending
        return status

    def expected_scale(self, pdb: Obj, pods: list[Obj]) -> int:
        """The replicas the selected pods' controllers want, each controller counted once
        (a Deployment's through its ReplicaSets). Pods without a controller count for
        nothing, with a warning, as upstream."""
        seen: dict[str, int] = {}
        unmanaged = 0
        for pod in pods:
            ref = controller_of(pod)
            if ref is None:
                unmanaged += 1
                continue
            uid, replicas = self._controller_scale(pod["metadata"]["namespace"], ref)
            seen[uid] = replicas
        if unmanaged:
            self.ctx.recorder.event(pdb, "Warning", "UnmanagedPods", (
                "Pods selected by this PodDisruptionBudget were found to be unmanaged. As a "
                "result, the status of the PDB cannot be calculated correctly, which may "
                "result in undefined behavior. To account for these pods please set "
                "\".spec.minAvailable\" field of the PDB to an integer value."))
        return sum(seen.values())

    def _controller_scale(self, namespace: str, ref: OwnerReference) -> tuple[str, int]:
        kinds = {"ReplicaSet": "replicasets", "StatefulSet": "statefulsets",
                 "Deployment": "deployments"}
        plural = kinds.get(str(ref.get("kind")))
        if plural is None:
            raise ScaleUnknown(f"{ref.get('kind')} {ref.get('name')} has no scale")
        owner = self.owners[plural].get(f"{namespace}/{ref['name']}")
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            raise ScaleUnknown(f"{ref.get('kind')} {namespace}/{ref.get('name')} not found")
        parent = controller_of(owner)
        if plural == "replicasets" and parent and parent.get("kind") == "Deployment":
            return self._controller_scale(namespace, parent)
        return str(ref["uid"]), int((owner.get("spec") or {}).get("replicas", 1))


def _selector(pdb: Obj) -> Obj | None:
    selector: Obj | None = (pdb.get("spec") or {}).get("selector")
    return selector


def _matches(pdb: Obj, labels: dict[str, str]) -> bool:
    try:
        return label_selector_from_dict(_selector(pdb)).matches(labels)
    except SelectorError:
        return False

