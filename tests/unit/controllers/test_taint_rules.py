"""The controllers' uses of the one toleration rule (api/tolerations.py): which pods the node
lifecycle controller evicts and when, and which nodes a DaemonSet runs on."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.api.shapes import Taint
from kboot.controlplane.controllers.daemonset import should_run
from kboot.controlplane.controllers.nodelifecycle import UNREACHABLE, eviction_delay

TAINT: Taint = {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "2026-01-01T00:00:00Z"}


def _pod(*tolerations: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"tolerations": list(tolerations)}}


@pytest.mark.parametrize(("tolerations", "expected"), [
    ((), 300.0),  # tolerates nothing: the default eviction timeout
    (({"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
       "tolerationSeconds": 30},), 30.0),
    (({"operator": "Exists"},), None),  # tolerates everything, forever
    (({"operator": "Exists"}, {"key": UNREACHABLE, "operator": "Exists",
                               "tolerationSeconds": 60}), 60.0),  # the smallest set one
    (({"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 90},
      {"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 20}), 20.0),
    (({"key": UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"},), 300.0),
    (({"key": UNREACHABLE, "value": "x", "tolerationSeconds": 5},), 300.0),  # value differs
    (({"key": UNREACHABLE, "tolerationSeconds": 5},), 5.0),  # Equal, both values empty
])
def test_eviction_delay(tolerations: tuple[dict[str, Any], ...], expected: float | None) -> None:
    assert eviction_delay(_pod(*tolerations), TAINT, 300.0) == expected


def _ds(*tolerations: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"tolerations": list(tolerations)}}}}


def _node(*taints: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "n", "labels": {}}, "spec": {"taints": list(taints)}}


@pytest.mark.parametrize(("tolerations", "taints", "expected"), [
    ((), ({"key": "dedicated", "effect": "NoSchedule"},), False),
    ((), ({"key": "dedicated", "effect": "PreferNoSchedule"},), True),  # soft: ignored
    ((), ({"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},), True),  # automatic
    (({"key": "dedicated", "value": "gpu"},),
     ({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},), True),
    (({"key": "dedicated", "value": ""},), ({"key": "dedicated", "effect": "NoSchedule"},),
     True),  # an absent value is the empty string (the old copy compared them raw)
    (({"key": "dedicated", "value": "gpu"},),
     ({"key": "dedicated", "value": "GPU", "effect": "NoSchedule"},), False),
])
def test_daemonset_runs_where_taints_are_tolerated(tolerations: tuple[dict[str, Any], ...],
                                                   taints: tuple[dict[str, Any], ...],
                                                   expected: bool) -> None:
    assert should_run(_ds(*tolerations), _node(*taints)) is expected
