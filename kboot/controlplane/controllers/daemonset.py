"""DaemonSet: one pod per eligible node, including nodes that join later.

A node is eligible when it matches the template's nodeSelector and required node affinity
and every NoSchedule/NoExecute taint is tolerated (DaemonSet pods get upstream's automatic
tolerations for not-ready, unreachable, pressure and unschedulable nodes). Pods are bound
directly (``spec.nodeName``), as the scheduler would only confirm the choice. RollingUpdate
replaces pods whose ``controller-revision-hash`` (a ControllerRevision, see :mod:`.revisions`)
is stale, keeping at most ``maxUnavailable``
(default 1) eligible nodes without a ready pod.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from kboot.controlplane.api.owners import controller_of, controller_uid
from kboot.controlplane.api.shapes import Obj, Toleration, taints_of, tolerations_of
from kboot.controlplane.api.tolerations import first_untolerated
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.client.meta import is_deleting, labels, selector_matches
from kboot.controlplane.controllers import pods as podlib
from kboot.controlplane.controllers.base import Controller, ControllerContext
from kboot.controlplane.controllers.expectations import Expectations
from kboot.controlplane.controllers.revisions import ensure_revision
from kboot.controlplane.controllers.rollout import resolve_int_or_percent

log = logging.getLogger(__name__)
REVISION_LABEL = "controller-revision-hash"
AUTO_TOLERATIONS: list[Toleration] = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists",
     "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def _affinity_ok(spec: dict[str, Any], node: Obj) -> bool:
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True
    return any(selector_matches({"matchExpressions": t.get("matchExpressions") or []},
                                labels(node)) and t.get("matchExpressions") for t in terms)


def should_run(ds: Obj, node: Obj) -> bool:
    spec = (ds["spec"].get("template") or {}).get("spec") or {}
    node_labels = labels(node)
    if any(node_labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    if not _affinity_ok(spec, node):
        return False
    return first_untolerated(taints_of(node), [*tolerations_of(spec), *AUTO_TOLERATIONS]) is None


class DaemonSetController(Controller):
    name = "daemonset"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sets = self.informer("daemonsets")
        self.nodes = self.informer("nodes")
        self.pods = self.informer("pods")
        self.revisions = self.informer("controllerrevisions")
        self.expectations = Expectations(ctx.clock)
        self.sets.add_handlers(Handlers(on_add=self.enqueue,
                                        on_update=lambda _o, n: self.enqueue(n)))
        every = Handlers(on_add=self._all, on_update=lambda _o, n: self._all(n),
                         on_delete=self._all)
        self.nodes.add_handlers(every)
        self.pods.add_handlers(Handlers(on_add=self._pod, on_update=lambda _o, p: self._pod(p),
                                        on_delete=self._pod))

    def _all(self, _node: Obj) -> None:
        for ds in self.sets.objects():
            self.enqueue(ds)

    def _pod(self, pod: Obj) -> None:
        ref = controller_of(pod)
        if ref and ref.get("kind") == "DaemonSet":
            key = f"{pod['metadata']['namespace']}/{ref['name']}"
            self.expectations.observed_add(key)
            self.queue.add(key)

    def _by_node(self, ds: Obj) -> dict[str, list[Obj]]:
        uid = ds["metadata"]["uid"]
        out: dict[str, list[Obj]] = {}
        for pod in self.pods.by_index("owner", uid):
            if controller_uid(pod) == uid and podlib.is_active(pod):
                out.setdefault(pod["spec"].get("nodeName", ""), []).append(pod)
        return out

    async def reconcile(self, key: str) -> Result:
        ds = self.sets.get(key)
        if ds is None or is_deleting(ds):
            return DONE
        revision = await ensure_revision(self.client, self.revisions, ds)
        by_node = self._by_node(ds)
        eligible = {n["metadata"]["name"] for n in self.nodes.objects() if should_run(ds, n)}
        if self.expectations.satisfied(key):
            missing = [n for n in sorted(eligible) if n not in by_node]
            self.expectations.expect(key, adds=len(missing))
            for node in missing:
                await self._create(ds, node, revision)
        for node, pods in by_node.items():
            surplus = pods if node not in eligible else pods[1:]
            for pod in surplus:
                await self._delete(pod)
        await self._roll(ds, by_node, eligible, revision)
        await self._sync_status(ds, self._by_node(ds), eligible, revision)
        return DONE

    async def _create(self, ds: Obj, node: str, revision: str) -> None:
        pod = podlib.from_template(ds["spec"]["template"], ds,
                                   extra_labels={REVISION_LABEL: revision})
        pod["spec"]["nodeName"] = node
        tolerations = list(pod["spec"].get("tolerations") or [])
        pod["spec"]["tolerations"] = tolerations + [copy.deepcopy(t) for t in AUTO_TOLERATIONS
                                                    if t not in tolerations]
        await self.client.create("pods", pod)

    async def _delete(self, pod: Obj) -> None:
        if not is_deleting(pod):
            md = pod["metadata"]
            await self.client.delete("pods", md["name"], namespace=md["namespace"])

    async def _roll(self, ds: Obj, by_node: dict[str, list[Obj]], eligible: set[str],
                    revision: str) -> None:
        strategy = ds["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        budget = resolve_int_or_percent((strategy.get("rollingUpdate") or {}).get(
            "maxUnavailable"), len(eligible), round_up=True, default="1") or 1
        unavailable = sum(1 for n in eligible
                          if not any(podlib.is_ready(p) for p in by_node.get(n, [])))
        for node in sorted(eligible):
            pods = by_node.get(node, [])
            stale = [p for p in pods
                     if labels(p).get(REVISION_LABEL) != revision and not is_deleting(p)]
            if not stale or unavailable >= budget:
                continue
            await self._delete(stale[0])
            unavailable += 1

    async def _sync_status(self, ds: Obj, by_node: dict[str, list[Obj]], eligible: set[str],
                           revision: str) -> None:
        scheduled = [n for n in by_node if n in eligible]
        ready = [n for n in scheduled if any(podlib.is_ready(p) for p in by_node[n])]
        status = {
            "observedGeneration": ds["metadata"].get("generation", 1),
            "desiredNumberScheduled": len(eligible), "currentNumberScheduled": len(scheduled),
            "numberMisscheduled": len([n for n in by_node if n not in eligible]),
            "numberReady": len(ready), "numberAvailable": len(ready),
            "numberUnavailable": len(eligible) - len(ready),
            "updatedNumberScheduled": len([n for n in scheduled if any(
                labels(p).get(REVISION_LABEL) == revision for p in by_node[n])]),
        }
        old = ds.get("status") or {}
        if any(old.get(k, 0) != v for k, v in status.items()):
            md = ds["metadata"]
            await self.client.patch_status("daemonsets", md["name"], namespace=md["namespace"],
                                           patch={"status": status})
