"""Node lifecycle: heartbeats → Ready condition → taints → eviction.

A node is alive while its Lease in ``kube-node-lease`` (or its Ready condition's heartbeat)
keeps changing; we time those changes with our own monotonic clock, so host clock skew does
not matter. Silent for ``node_monitor_grace_period`` → Ready becomes ``Unknown``. Ready
Unknown/False carry the ``node.kubernetes.io/unreachable`` / ``not-ready`` taints (NoSchedule
and NoExecute). Pods not tolerating a NoExecute taint are evicted once it is older than their
``tolerationSeconds`` or ``pod_eviction_timeout``; on unreachable nodes with grace 0, since no
kubelet is left to finish a graceful delete. Pods bound to nodes that no longer exist are
force-deleted (pod GC).
"""

from __future__ import annotations

import contextlib
import logging

from kboot.controlplane.api.shapes import Obj, Taint, taints_of, tolerations_of
from kboot.controlplane.api.tolerations import matching, toleration_seconds
from kboot.controlplane.client.api import DeleteOptions
from kboot.controlplane.client.controller import Result
from kboot.controlplane.client.errors import NotFound
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.client.meta import now, parse_time
from kboot.controlplane.controllers import pods as podlib
from kboot.controlplane.controllers.base import Controller, ControllerContext

log = logging.getLogger(__name__)
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
LEASE_NS = "kube-node-lease"


def desired_taints(node: Obj, ts: str) -> list[Taint]:
    """The node's taints with the lifecycle ones set from its Ready condition."""
    status = (podlib.condition(node, "Ready") or {}).get("status")
    key = {"Unknown": UNREACHABLE, "False": NOT_READY}.get(str(status))
    current = list(taints_of(node))
    keep = [t for t in current if t.get("key") not in (UNREACHABLE, NOT_READY)
            or t.get("key") == key]
    if key:
        for effect in ("NoSchedule", "NoExecute"):
            if not any(t.get("key") == key and t.get("effect") == effect for t in keep):
                keep.append({"key": key, "effect": effect,
                             **({"timeAdded": ts} if effect == "NoExecute" else {})})
    return keep


def eviction_delay(pod: Obj, taint: Taint, default: float) -> float | None:
    """Seconds after ``taint`` (NoExecute) was added that the pod goes; None = tolerated
    forever. The tolerations that tolerate the taint (the full rule, value included: the
    lifecycle taints carry none, so an ``Equal`` toleration with a value does not match them)
    decide by their smallest ``tolerationSeconds``; a pod tolerating it not at all goes after
    ``default`` (kboot's stand-in for upstream's DefaultTolerationSeconds admission)."""
    tolerating = matching(tolerations_of(pod.get("spec") or {}), taint)
    return toleration_seconds(tolerating) if tolerating else default


class NodeLifecycleController(Controller):
    name = "nodelifecycle"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.nodes = self.informer("nodes")
        self.leases = self.informer("leases", namespace=LEASE_NS)
        self.pods = self.informer("pods")
        self._beats: dict[str, float] = {}
        self._markers: dict[tuple[str, str], str] = {}
        self.nodes.add_handlers(Handlers(on_add=self._node, on_update=lambda _o, n: self._node(n),
                                         on_delete=self.enqueue))
        self.leases.add_handlers(Handlers(on_add=self._lease,
                                          on_update=lambda _o, n: self._lease(n)))

    def _beat(self, node: str, source: str, marker: str) -> None:
        """A heartbeat is a *change* of the lease's renewTime or of the Ready condition's
        lastHeartbeatTime (each tracked separately), timed by our own clock."""
        if self._markers.get((node, source)) != marker:
            self._markers[(node, source)] = marker
            self._beats[node] = self.clock.monotonic()

    def _lease(self, lease: Obj) -> None:
        name = lease["metadata"]["name"]
        self._beat(name, "lease", str((lease.get("spec") or {}).get("renewTime")))
        self.queue.add(name)

    def _node(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        ready = podlib.condition(node, "Ready") or {}
        if ready.get("status") in ("True", "False"):  # posted by the kubelet, not by us
            self._beat(name, "status", str(ready.get("lastHeartbeatTime")))
        self.queue.add(name)

    async def reconcile(self, key: str) -> Result:
        node = self.nodes.get(key)
        if node is None:
            await self._gc_pods(key)
            self._beats.pop(key, None)
            for source in ("lease", "status"):
                self._markers.pop((key, source), None)
            return Result()
        opts = self.ctx.options
        last = self._beats.setdefault(key, self.clock.monotonic())
        ready = podlib.condition(node, "Ready")
        if self.clock.monotonic() - last > opts.node_monitor_grace_period and \
                (ready or {}).get("status") != "Unknown":
            node = await self._mark_unknown(node)
        ts = now(self.clock)
        taints = desired_taints(node, ts)
        if taints != taints_of(node):
            node = await self.client.patch("nodes", key, {"spec": {"taints": taints or None}})
        await self._evict(node, taints)
        return Result(requeue_after=opts.node_monitor_period)

    async def _mark_unknown(self, node: Obj) -> Obj:
        ts = now(self.clock)
        conds = []
        for c in (node.get("status") or {}).get("conditions") or []:
            conds.append({**c, "status": "Unknown", "reason": "NodeStatusUnknown",
                          "message": "Kubelet stopped posting node status.",
                          "lastTransitionTime": ts})
        if not conds:
            conds = [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                      "message": "Kubelet never posted node status.", "lastTransitionTime": ts,
                      "lastHeartbeatTime": ts}]
        log.warning("node %s stopped heartbeating: Ready=Unknown", node["metadata"]["name"])
        self.ctx.recorder.event(node, "Normal", "NodeNotReady",
                                f"Node {node['metadata']['name']} status is now: NodeNotReady")
        return await self.client.patch_status("nodes", node["metadata"]["name"],
                                              {"status": {"conditions": conds}})

    async def _evict(self, node: Obj, taints: list[Taint]) -> None:
        no_execute = [t for t in taints if t.get("effect") == "NoExecute"
                      and t.get("key") in (UNREACHABLE, NOT_READY)]
        if not no_execute:
            return
        taint = no_execute[0]
        moment = self.clock.time()
        age = moment - (parse_time(taint.get("timeAdded")) or moment)
        grace = 0 if taint["key"] == UNREACHABLE else None
        for pod in self.pods.by_index("nodeName", node["metadata"]["name"]):
            delay = eviction_delay(pod, taint, self.ctx.options.pod_eviction_timeout)
            if delay is None or age < delay or not podlib.is_active(pod):
                continue
            md = pod["metadata"]
            log.info("evicting %s/%s from %s", md["namespace"], md["name"],
                     node["metadata"]["name"])
            self.ctx.recorder.event(pod, "Normal", "TaintManagerEviction",
                                    f"Marking for deletion Pod {md['namespace']}/{md['name']}")
            with contextlib.suppress(NotFound):
                await self.client.delete("pods", md["name"], namespace=md["namespace"],
                                         options=DeleteOptions(grace_period_seconds=grace))

    async def _gc_pods(self, node_name: str) -> None:
        for pod in self.pods.by_index("nodeName", node_name):
            md = pod["metadata"]
            with contextlib.suppress(NotFound):
                await self.client.delete("pods", md["name"], namespace=md["namespace"],
                                         options=DeleteOptions(grace_period_seconds=0))
