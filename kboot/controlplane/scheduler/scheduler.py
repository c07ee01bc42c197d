"""The scheduling loop: take a pending pod, filter nodes, score the feasible ones, assume the
pod on the best node in the snapshot, and bind it in the background.

Assume-then-bind means the next pod is placed against a snapshot that already counts this
one, so throughput is not bound by binding round trips; a failed binding forgets the
assumption and requeues the pod. Like kube-scheduler, large clusters are searched only until
enough feasible nodes are found (``percentage_of_nodes_to_score``), starting where the last
search stopped so load spreads over all nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections import Counter
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.api.storageclasses import SELECTED_NODE
from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.clock import REAL_CLOCK, Clock
from kboot.controlplane.client.errors import ApiError, Conflict, NotFound
from kboot.controlplane.client.events import EventRecorder
from kboot.controlplane.client.informer import Handlers, Informer
from kboot.controlplane.client.meta import is_deleting, key_of
from kboot.controlplane.client.workqueue import WorkQueue
from kboot.controlplane.scheduler.framework import (
    OK,
    SKIP,
    CycleState,
    Diagnosis,
    FilterPlugin,
    PreFilterPlugin,
    ScorePlugin,
)
from kboot.controlplane.scheduler.plugins import filters, scores, spread
from kboot.controlplane.scheduler.plugins.volumes import VolumeBinding, VolumeCatalog
from kboot.controlplane.scheduler.preemption import Candidate, Preemptor
from kboot.controlplane.scheduler.snapshot import NodeInfo, PodInfo, Snapshot

log = logging.getLogger(__name__)
SCHEDULER_NAME = "default-scheduler"
MIN_FEASIBLE = 100


@dataclass(frozen=True)
class Profile:
    pre_filters: Sequence[PreFilterPlugin]
    filters: Sequence[FilterPlugin]
    scores: Sequence[ScorePlugin]


def default_profile(volumes: VolumeBinding | None = None) -> Profile:
    """The plugins in upstream's order; ``volumes`` when the scheduler watches claims."""
    anti, name, affinity, ports = (filters.InterPodAntiAffinity(), filters.NodeName(),
                                   filters.NodeAffinity(), filters.NodePorts())
    pod_affinity, topology = filters.InterPodAffinity(), spread.PodTopologySpread()
    extra = (volumes,) if volumes is not None else ()
    return Profile(
        pre_filters=(anti, pod_affinity, name, affinity, ports, topology, *extra),
        filters=(filters.NodeUnschedulable(), name, affinity, filters.TaintToleration(),
                 filters.NodeReady(), filters.NodeResourcesFit(), ports, anti, pod_affinity,
                 topology, *extra),
        scores=(scores.LeastAllocated(), scores.SelectorSpread(),
                scores.PreferredNodeAffinity(), scores.PreferredPodAffinity(),
                spread.PodTopologySpreadScore()))


def nodes_to_find(total: int, percentage: int) -> int:
    """How many feasible nodes to look for (kube-scheduler's adaptive percentage)."""
    if total <= MIN_FEASIBLE:
        return total
    pct = percentage or max(5, 50 - total // 125)
    return max(MIN_FEASIBLE, total * pct // 100)


@dataclass(frozen=True)
class Decision:
    node: str | None
    diagnosis: Diagnosis | None = None


class Algorithm:
    """Pure placement over a snapshot (no I/O): unit-testable and benchmarkable alone."""

    def __init__(self, snapshot: Snapshot, profile: Profile | None = None, *,
                 percentage_of_nodes_to_score: int = 0) -> None:
        self.snapshot = snapshot
        self.profile = profile or default_profile()
        self.percentage = percentage_of_nodes_to_score
        self._start = 0

    def schedule(self, pod: Obj) -> Decision:
        info = PodInfo.of(pod)
        state = CycleState(self.snapshot)
        skipped = set()
        for pre in self.profile.pre_filters:
            if pre.pre_filter(state, info) is SKIP:
                skipped.add(pre.name)
        active = [f for f in self.profile.filters if f.name not in skipped]
        # on ready, schedulable, untainted nodes those filters pass for any pod: skip them
        on_plain = [p for p in active if not getattr(p, "passes_plain_nodes", False)]
        scorers = [p for p in self.profile.scores if p.relevant(info)]
        if (on_plain and isinstance(on_plain[0], filters.NodeResourcesFit)
                and all(isinstance(p, spread.PodTopologySpread) for p in on_plain[1:])
                and all(isinstance(p, _INLINED_SCORES) for p in scorers)):
            node, reasons = self._search_inline(state, info, active, scorers,
                                                [p.name for p in on_plain[1:]])
            if node is None:
                return Decision(None, Diagnosis(len(self.snapshot.nodes), reasons))
            return Decision(node)
        feasible, reasons = self._feasible(state, info, active, on_plain)
        if not feasible:
            return Decision(None, Diagnosis(len(self.snapshot.nodes), reasons))
        return Decision(self._best(state, info, feasible, scorers))

    def _feasible(self, state: CycleState, pod: PodInfo, active: list[FilterPlugin],
                  on_plain: list[FilterPlugin]) -> tuple[list[NodeInfo], Counter[str]]:
        nodes = self.snapshot.node_list()
        n = len(nodes)
        want = nodes_to_find(n, self.percentage)
        feasible: list[NodeInfo] = []
        reasons: Counter[str] = Counter()
        checked = 0
        for i in range(n):
            node = nodes[(self._start + i) % n]
            checked += 1
            for plugin in on_plain if node.plain else active:
                status = plugin.filter(state, pod, node)
                if status is not OK:
                    reasons[status.reason] += 1
                    break
            else:
                feasible.append(node)
                if len(feasible) >= want:
                    break
        self._start = (self._start + checked) % max(1, n)
        return feasible, reasons

    def _best(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo],
              scorers: list[ScorePlugin]) -> str:
        if len(nodes) == 1:
            return nodes[0].name
        weighted = [(p.weight, p.score) for p in scorers]
        best: list[str] = []
        top = -1.0
        for node in nodes:
            total = 0.0
            for weight, score in weighted:
                total += weight * score(state, pod, node)
            if total > top + 1e-9:
                top, best = total, [node.name]
            elif total > top - 1e-9:
                best.append(node.name)
        return random.choice(best)

    def _search_inline(self, state: CycleState, pod: PodInfo, active: list[FilterPlugin],
                       scorers: list[ScorePlugin],
                       spreads: list[str]) -> tuple[str | None, Counter[str]]:
        """:meth:`_feasible` then :meth:`_best` in one pass, for the common pod whose filters
        on plain nodes are NodeResourcesFit (and PodTopologySpread's, named in ``spreads``)
        and whose scores are LeastAllocated and SelectorSpread: those are inlined over the
        nodes' precomputed free resources and the attempt's precomputed domain counts.
        The same nodes are visited, the same floats computed in the same order and the same
        tie broken by the same ``random.choice``: decisions are identical (tested against
        the plugin path)."""
        nodes = self.snapshot.node_list()
        n = len(nodes)
        want = nodes_to_find(n, self.percentage)
        req = pod.requests
        cpu, mem = req.cpu, req.memory
        least = spread = 0
        for p in scorers:
            if isinstance(p, scores.LeastAllocated):
                least = p.weight
            else:
                spread = p.weight
        owner = pod.owner_uid
        skews = [(c.constraint.key, c.per_domain, c.self_match - c.global_min,
                  c.constraint.max_skew) for name in spreads for c in state.data.get(name) or []]
        reasons: Counter[str] = Counter()
        best: list[str] = []
        top = -1.0
        found = checked = 0
        start = self._start
        for node in itertools.chain(itertools.islice(nodes, start, None),
                                    itertools.islice(nodes, 0, start)):
            checked += 1
            if node.plain:
                if node.free_pods < 1:
                    reasons[_TOO_MANY] += 1
                    continue
                if cpu and cpu > node.free_cpu + 1e-9:
                    reasons[_NO_CPU] += 1
                    continue
                if mem and mem > node.free_memory:
                    reasons[_NO_MEMORY] += 1
                    continue
                if skews and (reason := _spread_reason(node, skews)):
                    reasons[reason] += 1
                    continue
            else:
                status = OK
                for plugin in active:
                    status = plugin.filter(state, pod, node)
                    if status is not OK:
                        reasons[status.reason] += 1
                        break
                if status is not OK:
                    continue
            found += 1
            total = 0.0
            if least:  # LeastAllocated.score; ``x if x > 0.0 else 0.0`` is max(0.0, x)
                alloc = node.allocatable
                c = (node.free_cpu - cpu) / alloc.cpu if alloc.cpu > 0 else 0.0
                m = (node.free_memory - mem) / alloc.memory if alloc.memory > 0 else 0.0
                k = (node.free_pods - 1) / alloc.pods if alloc.pods > 0 else 0.0
                total += least * (((c if c > 0.0 else 0.0) + (m if m > 0.0 else 0.0)
                                   + (k if k > 0.0 else 0.0)) * (100 / 3))
            if spread:
                total += spread * (100.0 / (1 + node.owners.get(owner, 0)) if owner else 100.0)
            if total > top + 1e-9:
                top, best = total, [node.name]
            elif total > top - 1e-9:
                best.append(node.name)
            if found >= want:
                break
        self._start = (start + checked) % max(1, n)
        if not best:
            return None, reasons
        return (best[0] if found == 1 else random.choice(best)), reasons


def _spread_reason(node: NodeInfo, skews: list[tuple[str, dict[str, int], int, int]]) -> str:
    """PodTopologySpread.filter over precomputed (key, counts, selfMatch - globalMin, maxSkew)."""
    for key, per_domain, offset, max_skew in skews:
        domain = filters.domain_of(node, key)
        if domain is None:
            return spread.MISSING.reason
        if per_domain.get(domain, 0) + offset > max_skew:
            return spread.SKEW.reason
    return ""


_INLINED_SCORES = (scores.LeastAllocated, scores.SelectorSpread)
_TOO_MANY, _NO_CPU, _NO_MEMORY = (filters.TOO_MANY.reason, filters.NO_CPU.reason,
                                  filters.NO_MEMORY.reason)


@dataclass(frozen=True)
class StorageInformers:
    """What the VolumeBinding filter reads: claims, volumes and storage classes."""

    claims: Informer
    volumes: Informer
    classes: Informer


class Scheduler:
    """Wires informers, the queue, the algorithm and binding together."""

    def __init__(self, client: ApiClient, *, pods: Informer, nodes: Informer,
                 pdbs: Informer | None = None, bind_concurrency: int = 64,
                 percentage_of_nodes_to_score: int = 0, clock: Clock = REAL_CLOCK,
                 storage: StorageInformers | None = None) -> None:
        self.client = client
        self.snapshot = Snapshot()
        self.volumes = VolumeBinding(VolumeCatalog()) if storage is not None else None
        self.volume_node: dict[str, str] = {}  # pod key -> node named on its claims
        self.algorithm = Algorithm(self.snapshot, default_profile(self.volumes),
                                   percentage_of_nodes_to_score=percentage_of_nodes_to_score)
        profile = self.algorithm.profile
        self.preemptor = Preemptor(self.snapshot, profile.filters, profile.pre_filters)
        self.pdbs = pdbs
        self.queue = WorkQueue(base_delay=1.0, max_delay=10.0, clock=clock)  # retry backoff
        self.pending: dict[str, Obj] = {}
        self.assumed: dict[str, str] = {}
        self.recorder = EventRecorder(client, SCHEDULER_NAME, clock=clock)
        self._binds = asyncio.Semaphore(bind_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self.scheduled = 0
        nodes.add_handlers(Handlers(on_add=self._node, on_update=lambda _o, n: self._node(n),
                                    on_delete=self._node_gone))
        pods.add_handlers(Handlers(on_add=self._pod, on_update=lambda _o, p: self._pod(p),
                                   on_delete=self._pod_gone))
        if storage is not None and self.volumes is not None:
            catalog = self.volumes.catalog
            for informer, table in ((storage.claims, catalog.claims),
                                    (storage.volumes, catalog.volumes),
                                    (storage.classes, catalog.classes)):
                informer.add_handlers(self._storage_handlers(table))

    def _storage_handlers(self, table: dict[str, Obj]) -> Handlers:
        """Keep one table of the volume catalog; any change may let pending pods fit."""
        def put(obj: Obj) -> None:
            table[key_of(obj)] = obj
            self._retry_pending()

        def drop(obj: Obj) -> None:
            table.pop(key_of(obj), None)
            self._retry_pending()

        return Handlers(on_add=put, on_update=lambda _o, obj: put(obj), on_delete=drop)

    # -- cache maintenance (informer handlers) ----------------------------------------------

    def _node(self, node: Obj) -> None:
        self.snapshot.set_node(node)
        self._retry_pending()

    def _node_gone(self, node: Obj) -> None:
        self.snapshot.remove_node(node["metadata"]["name"])

    def _retry_pending(self) -> None:
        """The cluster changed: unschedulable pods may fit now."""
        for key in self.pending:
            self.queue.add(key)

    def _pod(self, pod: Obj) -> None:
        key = key_of(pod)
        node = (pod.get("spec") or {}).get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        if node:
            self.pending.pop(key, None)
            self.assumed.pop(key, None)
            self.volume_node.pop(key, None)
            if self.snapshot.pod_node.get(key) == node and phase not in ("Succeeded", "Failed"):
                self.snapshot.refresh(pod)  # already counted there: requests do not change
                return
            if phase in ("Succeeded", "Failed"):
                self.snapshot.unplace(pod)
            else:
                self.snapshot.place(pod, node)
        elif is_deleting(pod):
            self._pod_gone(pod)
        elif (pod.get("spec") or {}).get("schedulerName", SCHEDULER_NAME) == SCHEDULER_NAME \
                and key not in self.assumed:
            self.pending[key] = pod
            self.queue.add(key)

    def _pod_gone(self, pod: Obj) -> None:
        key = key_of(pod)
        self.volume_node.pop(key, None)
        self.pending.pop(key, None)
        self.assumed.pop(key, None)
        if key in self.snapshot.pod_node:
            self.snapshot.unplace(pod)
            self._retry_pending()

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                key = await self.queue.get()
                try:
                    self.schedule_one(key)
                finally:
                    self.queue.done(key)
                await asyncio.sleep(0)
        finally:
            for task in list(self._tasks):
                task.cancel()

    def schedule_one(self, key: str) -> None:
        pod = self.pending.get(key)
        if pod is None or key in self.assumed:
            return
        if key in self.snapshot.pod_node:  # its nomination's reservation: not against itself
            self.snapshot.unplace(pod)
        decision = self.algorithm.schedule(pod)
        if decision.node is None:
            assert decision.diagnosis is not None
            message = decision.diagnosis.message()
            log.info("pod %s unschedulable: %s", key, message)
            self.recorder.event(pod, "Warning", "FailedScheduling", message)
            self._try_preemption(pod)
            self.queue.add_rate_limited(key)
            return
        if self.volumes is not None and self._awaits_volumes(key, pod, decision.node):
            return
        self.queue.forget(key)
        self.pending.pop(key, None)
        self.assumed[key] = decision.node
        self.snapshot.place(pod, decision.node)
        self._spawn(self._bind(pod, decision.node))

    # -- preemption -------------------------------------------------------------------------

    def _try_preemption(self, pod: Obj) -> None:
        """Nominate a node and evict lower-priority victims there (see :mod:`.preemption`).
        The nominated node is reserved for the pod in the snapshot, so pods scheduled meanwhile
        do not take the room its victims free."""
        nominated = str((pod.get("status") or {}).get("nominatedNodeName") or "")
        candidate = self.preemptor.find(pod, self.pdbs.objects() if self.pdbs else [])
        if candidate is None:
            if nominated in self.snapshot.nodes:
                self.snapshot.place(pod, nominated)  # still waiting for its victims
            return
        self.snapshot.place(pod, candidate.node)
        self._spawn(self._preempt(pod, candidate))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _preempt(self, pod: Obj, candidate: Candidate) -> None:
        md, node = pod["metadata"], candidate.node
        for victim in candidate.victims:
            vmd = victim["metadata"]
            self.recorder.event(victim, "Normal", "Preempted",
                                f"Preempted by pod {md.get('uid')} on node {node}")
            with contextlib.suppress(ApiError):
                await self.client.patch_status("pods", vmd["name"], namespace=vmd["namespace"],
                                               patch={"status": {"conditions": [{
                                                   "type": "DisruptionTarget", "status": "True",
                                                   "reason": "PreemptionByScheduler",
                                                   "message": f"{SCHEDULER_NAME}: preempting "
                                                              "to accommodate a higher "
                                                              "priority pod"}]}})
            with contextlib.suppress(NotFound):
                await self.client.delete("pods", vmd["name"], namespace=vmd["namespace"])
        log.info("pod %s/%s nominated to %s, preempting %d pod(s)", md["namespace"], md["name"],
                 node, len(candidate.victims))
        with contextlib.suppress(NotFound):
            await self.client.patch_status("pods", md["name"], namespace=md["namespace"],
                                           patch={"status": {"nominatedNodeName": node}})

    def _awaits_volumes(self, key: str, pod: Obj, node: str) -> bool:
        """Unbound WaitForFirstConsumer claims: name ``node`` on them and keep the pod pending
        until they are bound (claim and volume events retry it; the backoff is a fallback)."""
        assert self.volumes is not None
        chosen = self.volume_node.get(key)
        if chosen in self.snapshot.nodes:  # an earlier attempt's choice stands (in flight)
            node = str(chosen)
        annotate, unbound = self.volumes.to_provision(pod, node)
        if not unbound:
            self.volume_node.pop(key, None)
            return False
        self.volume_node[key] = node
        if annotate:
            task = asyncio.create_task(self._select_node(pod, annotate, node))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.queue.add_rate_limited(key)
        return True

    async def _select_node(self, pod: Obj, claims: list[str], node: str) -> None:
        ns = pod["metadata"]["namespace"]
        for name in claims:
            try:
                await self.client.patch("persistentvolumeclaims", name, namespace=ns,
                                        patch={"metadata": {"annotations": {
                                            SELECTED_NODE: node}}})
            except (ApiError, OSError, TimeoutError) as exc:
                log.warning("claim %s/%s: selecting node %s: %s", ns, name, node, exc)
                return
        self.recorder.event(pod, "Normal", "WaitingForVolumes",
                            f"provisioning {', '.join(claims)} on node {node}")

    async def _bind(self, pod: Obj, node: str) -> None:
        md = pod["metadata"]
        body = {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": md["name"], "namespace": md["namespace"]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        async with self._binds:
            try:
                await self.client.create_subresource("pods", md["name"], "binding", body,
                                                     namespace=md["namespace"])
            except (NotFound, Conflict) as exc:  # deleted, or bound by someone else
                log.info("binding %s/%s: %s", md["namespace"], md["name"], exc)
                self._forget(pod)
                return
            except (ApiError, OSError, TimeoutError) as exc:
                log.warning("binding %s/%s to %s failed: %s", md["namespace"], md["name"],
                            node, exc)
                self._forget(pod)
                self.pending[key_of(pod)] = pod
                self.queue.add_rate_limited(key_of(pod))
                return
        self.scheduled += 1
        self.recorder.event(pod, "Normal", "Scheduled",
                            f"Successfully assigned {md['namespace']}/{md['name']} to {node}")

    def _forget(self, pod: Obj) -> None:
        if self.assumed.pop(key_of(pod), None) is not None:
            self.snapshot.unplace(pod)
