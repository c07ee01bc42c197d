"""The resource-quota controller over the fake apiserver: ``status.used`` recounted (finished
pods out, scopes honoured), raised at once, lowered only once a second count agrees."""

from __future__ import annotations

from typing import Any

from kboot.controlplane.controllers.resourcequota import (
    SETTLE_SECONDS,
    ResourceQuotaController,
)
from tests.unit.controllers.harness import Harness, run


def _quota(used: dict[str, str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"metadata": {"name": "q", "namespace": "ns"},
                           "spec": {"hard": {"pods": "5", "requests.cpu": "2",
                                             "count/deployments.apps": "3"}}}
    if used is not None:
        out["status"] = {"hard": out["spec"]["hard"], "used": used}
    return out


def _pod(name: str, phase: str = "Running", cpu: str = "100m") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "image": "x",
                                     "resources": {"requests": {"cpu": cpu}}}]},
            "status": {"phase": phase}}


PODS = [("pods", _pod("a")), ("pods", _pod("b", cpu="1")), ("pods", _pod("done", "Succeeded")),
        ("deployments", {"metadata": {"name": "d", "namespace": "ns"}, "spec": {}})]


def test_missing_usage_is_written_at_once() -> None:
    async def body(h: Harness) -> None:
        result = await h.reconcile("ns/q")
        quota = await h.fake.get("resourcequotas", "q", namespace="ns")
        assert quota["status"]["used"] == {"pods": "2", "requests.cpu": "1100m",
                                           "count/deployments.apps": "1"}
        assert quota["status"]["hard"] == quota["spec"]["hard"]
        assert result.requeue_after is not None and result.requeue_after > SETTLE_SECONDS

    run(ResourceQuotaController, [("resourcequotas", _quota(None)), *PODS], body)


def test_a_lower_count_is_written_only_when_a_second_count_agrees() -> None:
    stale = {"pods": "4", "requests.cpu": "1100m", "count/deployments.apps": "1"}

    async def body(h: Harness) -> None:
        first = await h.reconcile("ns/q")
        quota = await h.fake.get("resourcequotas", "q", namespace="ns")
        assert quota["status"]["used"] == stale  # not lowered on first sight
        assert first.requeue_after == SETTLE_SECONDS
        await h.reconcile("ns/q")
        quota = await h.fake.get("resourcequotas", "q", namespace="ns")
        assert quota["status"]["used"]["pods"] == "2"

    run(ResourceQuotaController, [("resourcequotas", _quota(stale)), *PODS], body)
