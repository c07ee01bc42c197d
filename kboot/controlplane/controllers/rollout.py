"""The arithmetic of Deployment rollouts, as pure functions over replica counts.

``maxSurge`` rounds up and ``maxUnavailable`` rounds down (both 0 means 1 unavailable), as
upstream does. A rolling update scales the new ReplicaSet up while the total stays within
``replicas + maxSurge``, and old ones down while availability stays above
``replicas - maxUnavailable`` (unhealthy old pods go first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def resolve_int_or_percent(value: int | str | None, total: int, *, round_up: bool,
                           default: str = "25%") -> int:
    value = default if value is None else value
    if isinstance(value, int):
        return value
    if value.endswith("%"):
        exact = total * int(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def surge_and_unavailable(replicas: int, strategy: dict[str, object]) -> tuple[int, int]:
    ru = strategy.get("rollingUpdate") or {}
    assert isinstance(ru, dict)
    surge = resolve_int_or_percent(ru.get("maxSurge"), replicas, round_up=True)
    unavailable = resolve_int_or_percent(ru.get("maxUnavailable"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


@dataclass(frozen=True)
class RSCounts:
    """What the rollout needs to know of one ReplicaSet."""

    name: str
    spec: int  # spec.replicas
    available: int  # status.availableReplicas


def new_rs_size(replicas: int, surge: int, new: RSCounts, olds: list[RSCounts]) -> int:
    """The new ReplicaSet's next spec.replicas under a rolling update."""
    if new.spec >= replicas:
        return replicas
    total = new.spec + sum(o.spec for o in olds)
    room = replicas + surge - total
    if room <= 0:
        return new.spec
    return new.spec + min(room, replicas - new.spec)


def old_rs_sizes(replicas: int, unavailable: int, new: RSCounts,
                 olds: list[RSCounts]) -> dict[str, int]:
    """Next spec.replicas of old ReplicaSets (oldest first in ``olds``); only changed ones."""
    min_available = replicas - unavailable
    all_pods = new.spec + sum(o.spec for o in olds)
    new_unavailable = max(0, new.spec - new.available)
    budget = all_pods - min_available - new_unavailable
    sizes = {o.name: o.spec for o in olds}
    # first, unhealthy old replicas (they add nothing to availability)
    for o in olds:
        if budget <= 0:
            break
        unhealthy = max(0, sizes[o.name] - o.available)
        cut = min(unhealthy, budget)
        sizes[o.name] -= cut
        budget -= cut
    # then available ones, as far as availability allows
    available = new.available + sum(min(o.available, sizes[o.name]) for o in olds)
    can_remove = available - min_available
    for o in olds:
        if can_remove <= 0:
            break
        cut = min(sizes[o.name], can_remove)
        sizes[o.name] -= cut
        can_remove -= cut
    return {n: s for n, s in sizes.items() if s != next(o.spec for o in olds if o.name == n)}
