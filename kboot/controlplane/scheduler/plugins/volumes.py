"""Upstream's ``VolumeBinding`` filter: a pod goes only where its claims' volumes can be.

- A bound claim's PV may carry a required node affinity (local-path volumes name one node):
  only matching nodes pass ("volume node affinity conflict").
- An unbound claim of a ``WaitForFirstConsumer`` class passes everywhere (its volume will be
  made on the chosen node) unless it already names a node
  (``volume.kubernetes.io/selected-node``): then only that node passes, so a retry while the
  volume is being provisioned picks the same node.
- An unbound claim of an ``Immediate`` class or of no class waits for the binder or a
  provisioner; a claim naming a missing StorageClass is reported by that class's name; a
  missing or deleted claim by the claim's name. The pod stays Pending with a
  ``FailedScheduling`` event saying which.

The scheduler itself does the binding half (:meth:`VolumeBinding.to_provision`): after
choosing a node for a pod with unbound ``WaitForFirstConsumer`` claims it annotates those claims
with the node and leaves the pod pending until the provisioner and binder have bound them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.api.storageclasses import (
    SELECTED_NODE,
    ClaimState,
    claim_class,
    claim_state,
)
from kboot.controlplane.scheduler.framework import (
    OK,
    SKIP,
    CycleState,
    Status,
    unresolvable,
    unschedulable,
)
from kboot.controlplane.scheduler.plugins.filters import node_selector_term_matches
from kboot.controlplane.scheduler.snapshot import NodeInfo, PodInfo

CONFLICT = "node(s) had volume node affinity conflict"


@dataclass
class VolumeCatalog:
    """Claims (``ns/name``), volumes and classes by name, kept current by informer handlers."""

    claims: dict[str, Obj] = field(default_factory=dict)
    volumes: dict[str, Obj] = field(default_factory=dict)
    classes: dict[str, Obj] = field(default_factory=dict)


@dataclass(frozen=True)
class PodVolumes:
    """What the pod's claims require of a node, or why no node can do."""

    failure: Status | None = None
    terms: tuple[tuple[Any, ...], ...] = ()  # per bound PV: its nodeSelectorTerms (any)
    pinned: frozenset[str] = frozenset()  # selected nodes of unbound claims
    unbound: tuple[str, ...] = ()  # claim keys still to bind (WaitForFirstConsumer)


def claim_names(pod: Obj) -> list[str]:
    return [str(v["persistentVolumeClaim"]["claimName"])
            for v in (pod.get("spec") or {}).get("volumes") or []
            if (v.get("persistentVolumeClaim") or {}).get("claimName")]


def pod_volumes(pod: Obj, catalog: VolumeCatalog, nodes: set[str]) -> PodVolumes:
    ns = pod["metadata"].get("namespace", "default")
    terms: list[tuple[Any, ...]] = []
    pinned: set[str] = set()
    unbound: list[str] = []
    for name in claim_names(pod):
        claim = catalog.claims.get(f"{ns}/{name}")
        if claim is None:
            return PodVolumes(unresolvable(f'persistentvolumeclaim "{name}" not found'))
        if claim["metadata"].get("deletionTimestamp"):
            return PodVolumes(unresolvable(f'persistentvolumeclaim "{name}" is being deleted'))
        state = claim_state(claim, catalog.classes)
        if state is ClaimState.NO_CLASS:
            return PodVolumes(unschedulable(
                f'storageclass.storage.k8s.io "{claim_class(claim)}" not found'))
        if state is ClaimState.WAITING:
            return PodVolumes(unschedulable("pod has unbound immediate PersistentVolumeClaims"))
        if state is ClaimState.BOUND:
            pv = catalog.volumes.get(str(claim["spec"]["volumeName"]))
            if pv is None:
                return PodVolumes(unschedulable(
                    f'persistentvolume "{claim["spec"]["volumeName"]}" not found'))
            required = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required")
                        or {})
            if required.get("nodeSelectorTerms"):
                terms.append(tuple(required["nodeSelectorTerms"]))
            continue
        unbound.append(f"{ns}/{name}")
        selected = (claim["metadata"].get("annotations") or {}).get(SELECTED_NODE)
        if selected in nodes:  # a vanished node's choice is made again
            pinned.add(str(selected))
    return PodVolumes(terms=tuple(terms), pinned=frozenset(pinned), unbound=tuple(unbound))


def fits(volumes: PodVolumes, node: NodeInfo) -> Status:
    if volumes.failure is not None:
        return volumes.failure
    if volumes.pinned and volumes.pinned != {node.name}:
        return unresolvable(CONFLICT)
    fields = {"metadata.name": node.name}
    for terms in volumes.terms:
        if not any(node_selector_term_matches(t, node.labels, fields) for t in terms):
            return unresolvable(CONFLICT)
    return OK


class VolumeBinding:
    name = "VolumeBinding"

    def __init__(self, catalog: VolumeCatalog) -> None:
        self.catalog = catalog

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status:
        if not claim_names(pod.pod):
            return SKIP
        state.data[self.name] = pod_volumes(pod.pod, self.catalog, set(state.snapshot.nodes))
        return OK

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        volumes: PodVolumes = state.data[self.name]
        return fits(volumes, node)

    def to_provision(self, pod: Obj, node: str) -> tuple[list[str], list[str]]:
        """(claims to annotate with ``node``, claims still unbound) for a pod placed there."""
        annotate, unbound = [], []
        ns = pod["metadata"].get("namespace", "default")
        for name in claim_names(pod):
            claim = self.catalog.claims.get(f"{ns}/{name}")
            if claim is None or (claim.get("spec") or {}).get("volumeName"):
                continue
            unbound.append(name)
            if (claim["metadata"].get("annotations") or {}).get(SELECTED_NODE) != node:
                annotate.append(name)
        return annotate, unbound
