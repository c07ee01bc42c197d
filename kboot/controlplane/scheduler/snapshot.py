"""The scheduler's view of the cluster: one :class:`NodeInfo` per node with what its pods
request, and a :class:`PodInfo` computed once per pod per attempt (requests, tolerations,
affinity) so plugins stay cheap across a thousand nodes.

Pods enter a node's info when the informer shows them bound *or* when the scheduler assumes
them (before its binding call returns); binding failures forget the assumption.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kboot.controlplane.api import quantities
from kboot.controlplane.api.owners import controller_uid
from kboot.controlplane.api.shapes import Obj, Taint, Toleration, taints_of, tolerations_of
from kboot.controlplane.client.meta import key_of


def parse_quantity(value: Any) -> float:
    """A Kubernetes quantity (``100m``, ``1.5``, ``128Mi``, ``1e3``) as a float."""
    if isinstance(value, int | float):
        return float(value)
    return _parse_text(str(value))


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> float:
    """Quantities repeat (``100m``, ``128Mi``): parse each spelling once."""
    return float(quantities.parse_quantity(text))


@dataclass(frozen=True)
class Resources:
    cpu: float = 0.0  # cores
    memory: float = 0.0  # bytes
    pods: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu + other.cpu, self.memory + other.memory,
                         self.pods + other.pods)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.cpu - other.cpu, self.memory - other.memory,
                         self.pods - other.pods)


def pod_requests(pod: Obj) -> Resources:
    spec = pod.get("spec") or {}
    cpu = mem = 0.0
    for c in spec.get("containers") or []:
        req = (c.get("resources") or {}).get("requests") or {}
        cpu += parse_quantity(req.get("cpu", 0))
        mem += parse_quantity(req.get("memory", 0))
    for c in spec.get("initContainers") or []:  # init containers run alone: max, not sum
        req = (c.get("resources") or {}).get("requests") or {}
        cpu = max(cpu, parse_quantity(req.get("cpu", 0)))
        mem = max(mem, parse_quantity(req.get("memory", 0)))
    return Resources(cpu, mem, 1)


def host_ports(pod: Obj) -> set[tuple[str, str, int]]:
    out = set()
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                out.add((str(p.get("protocol", "TCP")), str(p.get("hostIP") or "0.0.0.0"),
                         int(p["hostPort"])))
    return out


@dataclass
class PodInfo:
    """Everything plugins need of the pod being scheduled, computed once."""

    pod: Obj
    key: str
    requests: Resources
    ports: set[tuple[str, str, int]]
    owner_uid: str | None
    node_name: str
    node_selector: dict[str, str]
    affinity: dict[str, Any]
    tolerations: list[Toleration]

    @classmethod
    def of(cls, pod: Obj) -> PodInfo:
        spec = pod.get("spec") or {}
        return cls(pod=pod, key=key_of(pod), requests=pod_requests(pod), ports=host_ports(pod),
                   owner_uid=controller_uid(pod),
                   node_name=str(spec.get("nodeName") or ""),
                   node_selector=dict(spec.get("nodeSelector") or {}),
                   affinity=dict(spec.get("affinity") or {}),
                   tolerations=list(tolerations_of(spec)))


@dataclass
class NodeInfo:
    node: Obj
    name: str
    labels: dict[str, str]
    allocatable: Resources
    taints: list[Taint]
    unschedulable: bool
    ready: bool
    requested: Resources = field(default_factory=Resources)
    #: Ready, schedulable and untainted: every filter marked ``passes_plain_nodes`` says OK
    #: here for any pod, so the algorithm skips those filters on such nodes.
    plain: bool = False
    pods: dict[str, Obj] = field(default_factory=dict)
    ports: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    owners: Counter[str] = field(default_factory=Counter)
    #: ``allocatable - requested`` per resource, kept with ``requested`` (the hot loops read
    #: one attribute instead of two objects' fields).
    free_cpu: float = 0.0
    free_memory: float = 0.0
    free_pods: int = 0

    def __post_init__(self) -> None:
        self._account()

    def _account(self) -> None:
        alloc, used = self.allocatable, self.requested
        self.free_cpu = alloc.cpu - used.cpu
        self.free_memory = alloc.memory - used.memory
        self.free_pods = alloc.pods - used.pods

    def adopt(self, old: NodeInfo) -> None:
        """Take over ``old``'s pods and their accounting (the same node, updated): no pod is
        re-parsed, so a heartbeat costs one :meth:`of`, not one per pod."""
        self.pods, self.ports, self.owners = old.pods, old.ports, old.owners
        self.requested = old.requested
        self._account()

    @classmethod
    def of(cls, node: Obj) -> NodeInfo:
        status, spec = node.get("status") or {}, node.get("spec") or {}
        alloc = status.get("allocatable") or status.get("capacity") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions") or [])
        taints, unschedulable = list(taints_of(node)), bool(spec.get("unschedulable"))
        return cls(node=node, name=node["metadata"]["name"],
                   labels=dict(node["metadata"].get("labels") or {}),
                   allocatable=Resources(parse_quantity(alloc.get("cpu", 0)),
                                         parse_quantity(alloc.get("memory", 0)),
                                         int(parse_quantity(alloc.get("pods", 110)))),
                   taints=taints, unschedulable=unschedulable, ready=ready,
                   plain=ready and not unschedulable and not taints)

    def add_pod(self, pod: Obj) -> None:
        key = key_of(pod)
        if key in self.pods:
            self.remove_pod(self.pods[key])
        self.pods[key] = pod
        self.requested = self.requested + pod_requests(pod)
        self._account()
        self.ports.update(host_ports(pod))
        owner = controller_uid(pod)
        if owner:
            self.owners[owner] += 1

    def remove_pod(self, pod: Obj) -> None:
        old = self.pods.pop(key_of(pod), None)
        if old is None:
            return
        self.requested = self.requested - pod_requests(old)
        self._account()
        self.ports.subtract(host_ports(old))
        owner = controller_uid(old)
        if owner:
            self.owners[owner] -= 1


MAX_CHANGES = 100_000


class Snapshot:
    """Nodes by name, kept current by informer handlers; pods by the node they occupy."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self.pod_node: dict[str, str] = {}
        self._orphans: dict[str, dict[str, Obj]] = {}  # pods seen before their node
        self._list: list[NodeInfo] | None = None
        #: Names of the nodes changed (node or pods), in order: caches derived from all nodes
        #: (``derived``, e.g. topology spread's counts) catch up from their position here
        #: instead of recounting every node for every pod.
        self.changes: list[str] = []
        self.derived: dict[Any, Any] = {}

    def _touch(self, name: str) -> None:
        self.changes.append(name)
        if len(self.changes) > MAX_CHANGES:  # derived caches rebuild from scratch
            self.changes.clear()
            self.derived.clear()

    def node_list(self) -> list[NodeInfo]:
        """``nodes.values()`` as a list in insertion order, rebuilt only after a change."""
        if self._list is None:
            self._list = list(self.nodes.values())
        return self._list

    def set_node(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        info = NodeInfo.of(node)
        old = self.nodes.get(name)
        if old is not None:
            info.adopt(old)
        else:
            for pod in list(self._orphans.pop(name, {}).values()):
                info.add_pod(pod)
        self.nodes[name] = info
        self._list = None
        self._touch(name)

    def remove_node(self, name: str) -> None:
        self.nodes.pop(name, None)
        self._list = None
        self._touch(name)

    def place(self, pod: Obj, node_name: str) -> None:
        key = key_of(pod)
        prev = self.pod_node.get(key)
        if prev and prev != node_name:
            self.unplace(pod)
        self.pod_node[key] = node_name
        info = self.nodes.get(node_name)
        if info is None:
            self._orphans.setdefault(node_name, {})[key] = pod
        else:
            info.add_pod(pod)
            self._touch(node_name)

    def refresh(self, pod: Obj) -> None:
        """Keep the newest copy of a placed pod whose requests did not change (preemption
        reads its deletion and priority from it)."""
        key = key_of(pod)
        info = self.nodes.get(self.pod_node.get(key, ""))
        if info is not None and key in info.pods:
            info.pods[key] = pod
            self._touch(info.name)  # its deletion may have started: counts change

    def unplace(self, pod: Obj) -> None:
        key = key_of(pod)
        node_name = self.pod_node.pop(key, None)
        if node_name is None:
            return
        info = self.nodes.get(node_name)
        if info is not None:
            info.remove_pod(pod)
            self._touch(node_name)
        self._orphans.get(node_name, {}).pop(key, None)
