"""The HorizontalPodAutoscaler's arithmetic, as pure functions (upstream's replica calculator
and behavior normalisation; docs/controllers.md "HorizontalPodAutoscaler").

**Replicas for one resource metric** (:func:`resource_replicas`): pods are grouped first —
deleted or failed pods are ignored, pods without a sample are *missing*, pods not Ready (or
Pending) are *unready* for CPU. The usage ratio over the ready pods with samples is
``utilization / target`` (``Utilization``: usage over requests, in percent) or
``average usage / target`` (``AverageValue``). Inside the tolerance (±10 %) nothing changes.
When pods are missing the ratio is recomputed assuming they use 0 (scaling up) or the target /
100 % (scaling down), unready pods count as 0 when scaling up; a recomputed ratio that flips
direction or falls inside the tolerance keeps the current count.

**Behavior** (:func:`normalize`): the recommendation is stabilised — scale-up takes the lowest
recommendation in its window, scale-down the highest in its window — then limited by the
policies (``Pods``/``Percent`` per ``periodSeconds``, counted from the scale events inside each
period; ``selectPolicy`` Max/Min/Disabled) and clamped to ``[minReplicas, maxReplicas]``.
Without ``behavior`` the defaults apply: scale up by max(100 %, 4 pods) per 15 s at once,
scale down by 100 % per 15 s after a 300 s window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kboot.controlplane.errors import ControlPlaneError

TOLERANCE = 0.1
DEFAULT_UP: dict[str, Any] = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                              "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15},
                                           {"type": "Pods", "value": 4, "periodSeconds": 15}]}
DEFAULT_DOWN: dict[str, Any] = {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                                "policies": [{"type": "Percent", "value": 100,
                                              "periodSeconds": 15}]}


class MetricsUnavailable(ControlPlaneError):
    """No usable samples (or requests) for the pods of the target."""


@dataclass(frozen=True)
class PodInfo:
    name: str
    ready: bool  # Ready condition True and Running
    ignored: bool = False  # being deleted, or failed
    request: float = 0.0  # sum of the containers' requests of the resource (0 = none set)


@dataclass(frozen=True)
class Outcome:
    replicas: int
    utilization: int | None  # percent of requests (Utilization targets), else None
    average: float  # average usage per pod with a sample


def _ratio(usage: Mapping[str, float], pods: Mapping[str, PodInfo], target: float,
           utilization: bool) -> tuple[float, int | None, float]:
    total = sum(usage.values())
    average = total / len(usage)
    if not utilization:
        return average / target, None, average
    requested = sum(pods[name].request for name in usage)
    if requested <= 0:
        raise MetricsUnavailable("missing request for the resource")
    percent = total * 100 / requested
    return percent / target, int(percent), average


def resource_replicas(current: int, pods: Sequence[PodInfo], usage: Mapping[str, float],
                      target: float, *, utilization: bool, cpu: bool,
                      tolerance: float = TOLERANCE) -> Outcome:
    """Desired replicas for one resource metric (``target``: percent, or usage per pod)."""
    by_name = {p.name: p for p in pods if not p.ignored}
    if utilization and any(p.request <= 0 for p in by_name.values()):
        raise MetricsUnavailable("missing request for the resource on some pods")
    missing = [n for n in by_name if n not in usage]
    unready = [n for n, p in by_name.items() if cpu and not p.ready and n in usage]
    samples = {n: v for n, v in usage.items() if n in by_name and n not in unready}
    if not samples:
        raise MetricsUnavailable("did not receive metrics for targeted pods")
    ratio, percent, average = _ratio(samples, by_name, target, utilization)
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return Outcome(current, percent, average)
        return Outcome(math.ceil(ratio * len(samples)), percent, average)
    filled = dict(samples)
    for name in missing:
        if ratio < 1.0:  # scaling down: assume they use the target (at least 100 % of request)
            filled[name] = (by_name[name].request * max(100.0, target) / 100 if utilization
                            else target)
        elif ratio > 1.0:
            filled[name] = 0.0
    if scale_up_with_unready:
        for name in unready:
            filled[name] = 0.0
    new_ratio, _, _ = _ratio(filled, by_name, target, utilization)
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or \
            (ratio > 1.0 > new_ratio):
        return Outcome(current, percent, average)
    replicas = math.ceil(new_ratio * len(filled))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return Outcome(current, percent, average)
    return Outcome(replicas, percent, average)


@dataclass
class History:
    """Per-HPA memory of the controller: recommendations and scale events with their times."""

    recommendations: list[tuple[float, int]] = field(default_factory=list)  # (time, replicas)
    events: list[tuple[float, int]] = field(default_factory=list)  # (time, change)


def _rules(behavior: Mapping[str, Any] | None, key: str, default: Mapping[str, Any]
           ) -> Mapping[str, Any]:
    rules = (behavior or {}).get(key)
    if not isinstance(rules, Mapping):
        return default
    return {**default, **rules}


def _change_in(events: Sequence[tuple[float, int]], now: float, period: float, up: bool
               ) -> int:
    return sum(abs(c) for t, c in events if t > now - period and (c > 0) == up and c != 0)


def _up_limit(current: int, events: Sequence[tuple[float, int]], rules: Mapping[str, Any],
              now: float) -> int:
    select = rules.get("selectPolicy", "Max")
    if select == "Disabled":
        return current
    proposals = []
    for policy in rules.get("policies") or []:
        start = current - _change_in(events, now, policy["periodSeconds"], up=True)
        if policy["type"] == "Pods":
            proposals.append(start + int(policy["value"]))
        else:
            proposals.append(math.ceil(start * (1 + policy["value"] / 100)))
    if not proposals:
        return current
    return max(proposals) if select == "Max" else min(proposals)


def _down_limit(current: int, events: Sequence[tuple[float, int]], rules: Mapping[str, Any],
                now: float) -> int:
    select = rules.get("selectPolicy", "Max")
    if select == "Disabled":
        return current
    proposals = []
    for policy in rules.get("policies") or []:
        start = current + _change_in(events, now, policy["periodSeconds"], up=False)
        if policy["type"] == "Pods":
            proposals.append(start - int(policy["value"]))
        else:
            proposals.append(int(start * (1 - policy["value"] / 100)))
    if not proposals:
        return current
    return min(proposals) if select == "Max" else max(proposals)


@dataclass(frozen=True)
class Decision:
    replicas: int
    limited: str  # "" or the ScalingLimited reason
    message: str


def normalize(*, current: int, desired: int, min_replicas: int, max_replicas: int,
              behavior: Mapping[str, Any] | None, history: History, now: float) -> Decision:
    """Stabilise and rate-limit ``desired`` (records the recommendation in ``history``)."""
    up = _rules(behavior, "scaleUp", DEFAULT_UP)
    down = _rules(behavior, "scaleDown", DEFAULT_DOWN)
    up_window = float(up.get("stabilizationWindowSeconds") or 0)
    down_window = float(down.get("stabilizationWindowSeconds") or 0)
    up_rec = down_rec = desired
    for when, value in history.recommendations:
        if when > now - up_window:
            up_rec = min(up_rec, value)
        if when > now - down_window:
            down_rec = max(down_rec, value)
    stabilized = min(max(current, up_rec), down_rec)
    keep = max(up_window, down_window)
    history.recommendations = [(t, v) for t, v in history.recommendations if t > now - keep]
    history.recommendations.append((now, desired))

    if stabilized > current:
        up_limit = max(_up_limit(current, history.events, up, now), current)
        if max_replicas < up_limit:
            allowed, reason, message = max_replicas, "TooManyReplicas", (
                "the desired replica count is more than the maximum replica count")
        else:
            allowed, reason, message = up_limit, "ScaleUpLimit", (
                "the desired replica count is increasing faster than the maximum scale rate")
        if stabilized > allowed:
            return Decision(allowed, reason, message)
    elif stabilized < current:
        down_limit = min(_down_limit(current, history.events, down, now), current)
        if min_replicas > down_limit:
            allowed, reason, message = min_replicas, "TooFewReplicas", (
                "the desired replica count is less than the minimum replica count")
        else:
            allowed, reason, message = down_limit, "ScaleDownLimit", (
                "the desired replica count is decreasing faster than the maximum scale rate")
        if stabilized < allowed:
            return Decision(allowed, reason, message)
    return Decision(min(max(stabilized, min_replicas), max_replicas), "",
                    "the desired count is within the acceptable range")


def record_scale(history: History, change: int, now: float, keep: float = 1800.0) -> None:
    history.events = [(t, c) for t, c in history.events if t > now - keep]
    if change:
        history.events.append((now, change))
