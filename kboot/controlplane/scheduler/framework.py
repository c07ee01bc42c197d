"""The plugin framework: one small Protocol per extension point and coded statuses.

A filter answers whether a pod fits a node (:class:`Status` with a code and the reason shown
in ``FailedScheduling`` events; success is the ``OK`` singleton, compared by identity on the
hot path); a score ranks feasible nodes 0-100, multiplied by its weight. Pre-filters and
``relevant`` let plugins drop out for pods they have nothing to say about, which matters over
a thousand nodes. Plugins see the :class:`~.snapshot.PodInfo` computed once per attempt and the
:class:`~.snapshot.NodeInfo`; ``CycleState`` carries per-attempt data plugins precompute.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from kboot.controlplane.scheduler.snapshot import NodeInfo, PodInfo, Snapshot


class Code(enum.Enum):
    SUCCESS = 0
    UNSCHEDULABLE = 1  # might fit later (resources freed, taint removed)
    UNRESOLVABLE = 2  # this node can never fit the pod as specified
    ERROR = 3
    SKIP = 4  # from pre_filter: this plugin's filter has nothing to check for this pod


@dataclass(frozen=True)
class Status:
    code: Code = Code.SUCCESS
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.code is Code.SUCCESS


OK = Status()
SKIP = Status(Code.SKIP)


def unschedulable(reason: str) -> Status:
    return Status(Code.UNSCHEDULABLE, reason)


def unresolvable(reason: str) -> Status:
    return Status(Code.UNRESOLVABLE, reason)


@dataclass
class CycleState:
    """Per-attempt scratch space keyed by plugin name."""

    snapshot: Snapshot
    data: dict[str, Any] = field(default_factory=dict)


class PreFilterPlugin(Protocol):
    """Runs once per attempt; returning ``SKIP`` drops the plugin's filter for this pod."""

    name: str

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status: ...


class FilterPlugin(Protocol):
    name: str

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status: ...


class ScorePlugin(Protocol):
    name: str
    weight: int

    def relevant(self, pod: PodInfo) -> bool: ...

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> float: ...


@dataclass(frozen=True)
class Diagnosis:
    """Why no node fits: reason -> number of nodes, as ``kubectl describe`` prints it."""

    total: int
    reasons: Counter[str]

    def message(self) -> str:
        parts = [f"{n} {reason}" for reason, n in sorted(self.reasons.items())]
        return f"0/{self.total} nodes are available: {', '.join(parts)}."
