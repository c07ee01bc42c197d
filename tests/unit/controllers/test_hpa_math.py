"""The HPA arithmetic against upstream's replica-calculator and behavior cases."""

from __future__ import annotations

import pytest

from kboot.controlplane.controllers.hpa_math import (
    History,
    MetricsUnavailable,
    PodInfo,
    normalize,
    record_scale,
    resource_replicas,
)


def _pods(n: int, *, request: float = 1.0, unready: tuple[int, ...] = ()) -> list[PodInfo]:
    return [PodInfo(f"p{i}", i not in unready, request=request) for i in range(n)]


def _usage(*values: float) -> dict[str, float]:
    return {f"p{i}": v for i, v in enumerate(values)}


@pytest.mark.parametrize(("case", "current", "pods", "usage", "target", "expected"), [
    ("scale up", 3, _pods(3), _usage(0.3, 0.5, 0.7), 30, 5),
    ("scale up, unready pod counts as 0", 3, _pods(3, unready=(0,)), _usage(0.3, 0.5, 0.7),
     30, 4),
    ("scale down", 5, _pods(5), _usage(0.1, 0.3, 0.5, 0.25, 0.25), 50, 3),
    ("inside the tolerance", 3, _pods(3), _usage(1.01, 1.03, 1.02), 100, 3),
    ("missing metrics while scaling down assume the request", 4, _pods(4),
     _usage(0.1, 0.1, 0.1), 50, 3),
    ("missing metrics while scaling up assume 0", 4, _pods(4), _usage(0.9, 1.0, 1.0), 50, 6),
    ("missing metrics flip the direction: no change", 4, _pods(4), _usage(0.6, 0.6, 0.6),
     50, 4),
])
def test_utilization_replicas(case: str, current: int, pods: list[PodInfo],
                              usage: dict[str, float], target: float, expected: int) -> None:
    outcome = resource_replicas(current, pods, usage, target, utilization=True, cpu=True)
    assert outcome.replicas == expected, case


def test_utilization_is_reported_in_percent_of_requests() -> None:
    outcome = resource_replicas(3, _pods(3), _usage(0.3, 0.5, 0.7), 30, utilization=True,
                                cpu=True)
    assert outcome.utilization == 50
    assert outcome.average == pytest.approx(0.5)


def test_average_value_target() -> None:
    mi = 1024 * 1024
    outcome = resource_replicas(3, _pods(3), _usage(100 * mi, 200 * mi, 300 * mi), 100 * mi,
                                utilization=False, cpu=False)
    assert outcome.replicas == 6
    assert outcome.utilization is None


def test_deleted_pods_are_ignored_and_no_samples_is_an_error() -> None:
    pods = [PodInfo("p0", True, ignored=True, request=1.0), PodInfo("p1", True, request=1.0)]
    assert resource_replicas(2, pods, _usage(5.0, 0.5), 50, utilization=True,
                             cpu=True).replicas == 2  # p0's huge sample does not count
    with pytest.raises(MetricsUnavailable, match="did not receive metrics"):
        resource_replicas(2, _pods(2), {}, 50, utilization=True, cpu=True)


def test_utilization_needs_requests() -> None:
    with pytest.raises(MetricsUnavailable, match="missing request"):
        resource_replicas(2, _pods(2, request=0.0), _usage(0.5, 0.5), 50, utilization=True,
                          cpu=True)


def test_default_scale_down_waits_for_the_window_then_drops_at_once() -> None:
    history = History()
    first = normalize(current=5, desired=5, min_replicas=1, max_replicas=10, behavior=None,
                      history=history, now=1000.0)
    assert first.replicas == 5
    during = normalize(current=5, desired=1, min_replicas=1, max_replicas=10, behavior=None,
                       history=history, now=1000.0 + 299)
    assert during.replicas == 5  # the recommendation of 5 is still inside the 300 s window
    after = normalize(current=5, desired=1, min_replicas=1, max_replicas=10, behavior=None,
                      history=history, now=1000.0 + 301)
    assert after.replicas == 1


def test_scale_up_policies_limit_the_rate() -> None:
    behavior = {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                            "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]}}
    history = History()
    decision = normalize(current=2, desired=10, min_replicas=1, max_replicas=20,
                         behavior=behavior, history=history, now=0.0)
    assert (decision.replicas, decision.limited) == (4, "ScaleUpLimit")
    record_scale(history, 2, 0.0)
    # within the same period the 2 pods already added count against the policy
    again = normalize(current=4, desired=10, min_replicas=1, max_replicas=20,
                      behavior=behavior, history=history, now=30.0)
    assert again.replicas == 4
    later = normalize(current=4, desired=10, min_replicas=1, max_replicas=20,
                      behavior=behavior, history=history, now=61.0)
    assert later.replicas == 6


def test_bounds_and_disabled_policies() -> None:
    assert normalize(current=3, desired=50, min_replicas=1, max_replicas=5, behavior=None,
                     history=History(), now=0.0).limited == "TooManyReplicas"
    down_off = {"scaleDown": {"selectPolicy": "Disabled"}}
    assert normalize(current=3, desired=1, min_replicas=1, max_replicas=5, behavior=down_off,
                     history=History(), now=0.0).replicas == 3
    short = {"scaleDown": {"stabilizationWindowSeconds": 0}}
    decision = normalize(current=3, desired=1, min_replicas=2, max_replicas=5,
                         behavior=short, history=History(), now=0.0)
    assert (decision.replicas, decision.limited) == (2, "TooFewReplicas")
