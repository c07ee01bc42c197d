"""The HPA controller over the fake apiserver, with a FakeClock and a canned metrics source:
scale up under load, hold during the scale-down stabilisation window, scale down after it."""

from __future__ import annotations

from typing import Any

from kboot.controlplane.controllers.hpa import HpaController
from kboot.controlplane.controllers.hpa_math import MetricsUnavailable
from tests.unit.controllers.harness import Harness, run

Obj = dict[str, Any]
LABELS = {"app": "burn"}


def _deployment(replicas: int) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "burn", "namespace": "default", "uid": "d1"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": LABELS},
                     "template": {"metadata": {"labels": LABELS}, "spec": {"containers": [
                         {"name": "c", "image": "x"}]}}}}


def _pod(i: int) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"burn-{i}", "namespace": "default", "labels": LABELS,
                         "uid": f"p{i}"},
            "spec": {"containers": [{"name": "c", "image": "x",
                                     "resources": {"requests": {"cpu": "100m"}}}]},
            "status": {"phase": "Running",
                       "conditions": [{"type": "Ready", "status": "True"}]}}


HPA = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
       "metadata": {"name": "burn", "namespace": "default", "uid": "h1"},
       "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                   "name": "burn"},
                "minReplicas": 1, "maxReplicas": 4,
                "metrics": [{"type": "Resource", "resource": {
                    "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}}}}


class CannedMetrics:
    def __init__(self) -> None:
        self.cpu: float | None = 0.0

    async def pod_usage(self, namespace: str) -> dict[str, dict[str, float]]:
        if self.cpu is None:
            raise MetricsUnavailable("the metrics API is down")
        return {f"burn-{i}": {"cpu": self.cpu} for i in range(4)}


def _conditions(h: Harness) -> dict[str, tuple[str, str]]:
    status = h.fake.all("horizontalpodautoscalers")[0].get("status") or {}
    return {c["type"]: (c["status"], c["reason"]) for c in status.get("conditions") or []}


def _replicas(h: Harness) -> int:
    return int(h.fake.all("deployments")[0]["spec"]["replicas"])


def test_scales_up_under_load_and_down_after_the_window() -> None:
    metrics = CannedMetrics()

    async def body(h: Harness) -> None:
        assert isinstance(h.controller, HpaController)
        h.controller.metrics = metrics
        metrics.cpu = 0.1  # 100 % of the request on each pod, target 50 %
        await h.reconcile("default/burn")
        assert _replicas(h) == 4  # ratio 2 over the 2 measured pods
        assert _conditions(h)["AbleToScale"] == ("True", "SucceededRescale")
        status = h.fake.all("horizontalpodautoscalers")[0]["status"]
        assert status["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 100

        metrics.cpu = 0.01  # load gone: 10 %
        await h.clock.advance(15)
        await h.reconcile("default/burn")
        assert _replicas(h) == 4  # the recommendation of 4 is inside the 30 s window
        assert _conditions(h)["ScalingLimited"] == ("False", "DesiredWithinRange")
        await h.clock.advance(31)
        await h.reconcile("default/burn")
        assert _replicas(h) == 1

    run(HpaController, [("deployments", _deployment(2)), ("pods", _pod(0)), ("pods", _pod(1)),
                        ("horizontalpodautoscalers", HPA)], body)


def test_missing_metrics_keep_the_scale_and_say_why() -> None:
    metrics = CannedMetrics()

    async def body(h: Harness) -> None:
        assert isinstance(h.controller, HpaController)
        h.controller.metrics = metrics
        metrics.cpu = None
        await h.reconcile("default/burn")
        assert _replicas(h) == 2
        assert _conditions(h)["ScalingActive"] == ("False", "FailedGetResourceMetric")

    run(HpaController, [("deployments", _deployment(2)), ("pods", _pod(0)), ("pods", _pod(1)),
                        ("horizontalpodautoscalers", HPA)], body)
