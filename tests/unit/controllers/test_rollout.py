"""Rolling-update arithmetic as tables."""

from __future__ import annotations

import pytest

from kboot.controlplane.controllers.rollout import (
    RSCounts,
    new_rs_size,
    old_rs_sizes,
    surge_and_unavailable,
)


@pytest.mark.parametrize("replicas,strategy,expected", [
    (4, {}, (1, 1)),
    (10, {}, (3, 2)),
    (3, {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}, (0, 1)),
    (3, {"rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 1}}, (2, 1)),
    (1, {}, (1, 0)),
])
def test_surge_rounds_up_unavailable_rounds_down(replicas: int, strategy: dict[str, object],
                                                 expected: tuple[int, int]) -> None:
    assert surge_and_unavailable(replicas, strategy) == expected


@pytest.mark.parametrize("replicas,surge,new,old,expected", [
    (3, 1, (0, 0), [(3, 3)], 1),      # room for one surge pod
    (3, 1, (1, 0), [(3, 3)], 1),      # at replicas+surge: wait
    (3, 1, (1, 1), [(2, 2)], 2),
    (3, 0, (0, 0), [(3, 3)], 0),      # no surge: old must shrink first
    (3, 1, (5, 5), [], 3),            # scaled down deployment
])
def test_new_replicaset_size(replicas: int, surge: int, new: tuple[int, int],
                             old: list[tuple[int, int]], expected: int) -> None:
    olds = [RSCounts(f"o{i}", s, a) for i, (s, a) in enumerate(old)]
    assert new_rs_size(replicas, surge, RSCounts("n", *new), olds) == expected


@pytest.mark.parametrize("replicas,unavail,new,old,expected", [
    (3, 1, (1, 0), [(3, 3)], {"o0": 2}),          # keep 2 available while new is unready
    (3, 1, (1, 1), [(2, 2)], {"o0": 1}),
    (3, 0, (1, 0), [(3, 3)], {}),                 # maxUnavailable 0: wait for the new pod
    (3, 1, (1, 0), [(3, 1)], {"o0": 2}),          # unhealthy old pods go first
    (2, 1, (2, 2), [(1, 1), (1, 0)], {"o0": 0, "o1": 0}),
])
def test_old_replicaset_sizes(replicas: int, unavail: int, new: tuple[int, int],
                              old: list[tuple[int, int]], expected: dict[str, int]) -> None:
    olds = [RSCounts(f"o{i}", s, a) for i, (s, a) in enumerate(old)]
    assert old_rs_sizes(replicas, unavail, RSCounts("n", *new), olds) == expected
