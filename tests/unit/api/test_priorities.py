"""PriorityClass validation and the Priority admission's pure core, in upstream's words."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.api.defaults import apply_defaults
from kboot.controlplane.api.priorities import PriorityRefused, builtin_classes, resolve
from kboot.controlplane.api.validation import validate


def pc(name: str, value: int, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value, **extra}


def errors(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [str(e) for e in validate("PriorityClass", apply_defaults("PriorityClass", obj),
                                     old=old)]


def test_builtins_are_valid_and_as_upstream() -> None:
    values = {c["metadata"]["name"]: c["value"] for c in builtin_classes()}
    assert values == {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}
    for cls in builtin_classes():
        assert errors(cls) == []


@pytest.mark.parametrize(("obj", "message"), [
    (pc("system-mine", 5), "metadata.name: Forbidden: priority class names with 'system-' "
                           "prefix are reserved for system use only. error: system-mine is not "
                           "a known system priority class"),
    (pc("system-node-critical", 5), "value of system-node-critical PriorityClass must be "
                                    "2000001000"),
    (pc("huge", 1000000001), "value: Forbidden: maximum allowed value of a user defined "
                             "priority is 1000000000"),
    (pc("odd", 1, preemptionPolicy="Sometimes"), 'preemptionPolicy: Unsupported value: '
                                                 '"Sometimes"'),
])
def test_invalid_classes(obj: dict[str, Any], message: str) -> None:
    assert any(message in e for e in errors(obj))


def test_value_is_immutable() -> None:
    old = apply_defaults("PriorityClass", pc("high", 1000))
    assert "value: Forbidden: may not be changed in an update." in errors(pc("high", 2000),
                                                                          old=old)


def test_resolve_table() -> None:
    high = apply_defaults("PriorityClass", pc("high", 1000, preemptionPolicy="Never"))
    default = apply_defaults("PriorityClass", pc("normal", 10, globalDefault=True))
    got = resolve({"priorityClassName": "high"}, high, default)
    assert (got.name, got.priority, got.policy) == ("high", 1000, "Never")
    got = resolve({}, None, default)
    assert (got.name, got.priority, got.policy) == ("normal", 10, "PreemptLowerPriority")
    got = resolve({}, None, None)
    assert (got.name, got.priority) == ("", 0)
    got = resolve({"priorityClassName": "system-node-critical"}, None, None)
    assert got.priority == 2000001000  # built-ins resolve even before bootstrap stored them
    assert resolve({"priorityClassName": "high", "priority": 1000}, high, None).priority == 1000


@pytest.mark.parametrize(("spec", "message"), [
    ({"priorityClassName": "nope"}, "no PriorityClass with name nope was found"),
    ({"priority": 7}, "the integer value of priority (7) must not be provided in pod spec; "
                      "priority admission controller computed 0 from the given PriorityClass "
                      "name"),
    ({"preemptionPolicy": "Never"}, "the string value of PreemptionPolicy (Never) must not be "
                                    "provided in pod spec"),
])
def test_resolve_refusals(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(PriorityRefused) as err:
        resolve(spec, None, None)
    assert message in str(err.value)
    assert err.value.code == 403
