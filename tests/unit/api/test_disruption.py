"""The pure PodDisruptionBudget rules: rounding, validation, status and the eviction debit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kboot.controlplane.api import disruption
from kboot.controlplane.api.disruption import Budget, EvictionRefused


@pytest.mark.parametrize(("value", "total", "up", "want"), [
    (2, 10, True, 2), ("50%", 3, True, 2), ("50%", 3, False, 1), ("34%", 3, True, 2),
    ("100%", 7, True, 7), ("0%", 7, True, 0), ("10%", 0, True, 0),
])
def test_scaled_value_rounds_as_upstream(value: int | str, total: int, up: bool,
                                         want: int) -> None:
    assert disruption.scaled_value(value, total, round_up=up) == want


@pytest.mark.parametrize("bad", ["50", "x%", "5.5%", True])
def test_scaled_value_refuses_non_percent(bad: int | str) -> None:
    with pytest.raises(ValueError):
        disruption.scaled_value(bad, 3, round_up=True)


@pytest.mark.parametrize(("spec", "pods", "scale", "want"), [
    ({"minAvailable": 2}, 5, 3, Budget(5, 2)),  # an int counts the pods themselves
    ({"minAvailable": "34%"}, 5, 3, Budget(3, 2)),
    ({"maxUnavailable": 1}, 5, 3, Budget(3, 2)),
    ({"maxUnavailable": "34%"}, 5, 3, Budget(3, 1)),
    ({"maxUnavailable": 5}, 2, 3, Budget(3, 0)),
    ({}, 4, 4, Budget(0, 0)),
])
def test_budget(spec: dict[str, int | str], pods: int, scale: int, want: Budget) -> None:
    assert disruption.budget(spec, pods, scale) == want


def test_disruptions_allowed_is_never_negative_and_zero_without_pods() -> None:
    assert disruption.disruptions_allowed(3, Budget(3, 2)) == 1
    assert disruption.disruptions_allowed(1, Budget(3, 2)) == 0
    assert disruption.disruptions_allowed(5, Budget(0, 0)) == 0


def _messages(spec: dict[str, object]) -> list[str]:
    return [e.message for e in disruption.validate_pdb({"spec": spec}, None)]


def test_validation() -> None:
    assert _messages({"minAvailable": 1, "selector": {"matchLabels": {"a": "b"}}}) == []
    assert _messages({}) == []  # upstream accepts neither bound: nothing is protected
    assert any("cannot be both set" in m for m in _messages(
        {"minAvailable": 1, "maxUnavailable": 1}))
    assert any("greater than or equal to 0" in m for m in _messages({"minAvailable": -1}))
    assert any("greater than 100%" in m for m in _messages({"maxUnavailable": "101%"}))
    assert any("percent string" in m for m in _messages({"maxUnavailable": "ten"}))
    assert _messages({"selector": {"matchExpressions": [
        {"key": "a", "operator": "Bogus", "values": ["x"]}]}})
    assert _messages({"unhealthyPodEvictionPolicy": "Sometimes"})


def _pod(name: str, ready: bool = True, deleting: bool = False) -> dict[str, object]:
    meta: dict[str, object] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


def test_pod_ready() -> None:
    assert disruption.pod_ready(_pod("a"))
    assert not disruption.pod_ready(_pod("a", ready=False))
    assert not disruption.pod_ready(_pod("a", deleting=True))


def test_live_disruptions_forget_gone_deleting_and_expired_pods() -> None:
    now = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    pods = {"fresh": _pod("fresh"), "old": _pod("old"), "going": _pod("going", deleting=True)}
    kept = disruption.live_disruptions({
        "fresh": "2026-01-01T00:04:00Z", "old": "2026-01-01T00:02:00Z",
        "going": "2026-01-01T00:04:30Z", "gone": "2026-01-01T00:04:30Z"}, pods, now)
    assert kept == {"fresh": "2026-01-01T00:04:00Z"}


def test_condition_keeps_its_transition_time_while_unchanged() -> None:
    first = disruption.condition(1, 1, "T1", [])
    assert (first["status"], first["reason"]) == ("True", "SufficientPods")
    assert disruption.condition(2, 1, "T2", [first])["lastTransitionTime"] == "T1"
    flipped = disruption.condition(0, 1, "T3", [first])
    assert (flipped["reason"], flipped["lastTransitionTime"]) == ("InsufficientPods", "T3")


def _pdb(allowed: int, generation: int = 1, observed: int = 1) -> dict[str, object]:
    return {"metadata": {"name": "db", "generation": generation},
            "status": {"observedGeneration": observed, "disruptionsAllowed": allowed,
                       "desiredHealthy": 2, "currentHealthy": 2}}


def test_take_disruption_debits_and_records_the_pod() -> None:
    after = disruption.take_disruption(_pdb(1), "db-0", "T")
    assert after["status"]["disruptionsAllowed"] == 0
    assert after["status"]["disruptedPods"] == {"db-0": "T"}


def test_take_disruption_refuses_with_upstream_messages() -> None:
    with pytest.raises(EvictionRefused) as exc:
        disruption.take_disruption(_pdb(0), "db-0", "T")
    assert exc.value.code == 429 and exc.value.message == disruption.EVICTION_REFUSED
    assert exc.value.cause == "The disruption budget db needs 2 healthy pods and has 2 currently"
    with pytest.raises(EvictionRefused) as exc:
        disruption.take_disruption(_pdb(1, generation=2), "db-0", "T")
    assert exc.value.code == 429 and "still being processed" in exc.value.cause
    with pytest.raises(EvictionRefused) as exc:
        disruption.take_disruption(_pdb(-1), "db-0", "T")
    assert exc.value.code == 403
