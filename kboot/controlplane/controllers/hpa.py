"""The horizontal pod autoscaler controller (``autoscaling/v2``; upstream's
``pkg/controller/podautoscaler``, the arithmetic in :mod:`.hpa_math`).

Every HPA is reconciled when it changes and every :data:`SYNC_PERIOD` seconds: read the
target (Deployment, ReplicaSet or StatefulSet: replicas and selector, as its ``scale``
subresource reports them), the selected pods from the informer, and the pods' usage from the
metrics API (``metrics.k8s.io/v1beta1`` PodMetrics — served through aggregation); compute a
recommendation per metric, take the largest, stabilise and rate-limit it by ``behavior``, and
write ``spec.replicas`` through the target's ``scale`` subresource. ``status`` carries the
current/desired replicas, ``lastScaleTime``, ``currentMetrics`` and the conditions
``AbleToScale``, ``ScalingActive`` and ``ScalingLimited`` with upstream's reasons. Only
``Resource`` metrics are computed; other metric types make ``ScalingActive`` False with a
message saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from kboot.controlplane.api.quantities import parse_quantity
from kboot.controlplane.api.selectors import SelectorError, label_selector_from_dict
from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.controller import Result
from kboot.controlplane.client.errors import ApiError, NotFound
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.controllers import hpa_math
from kboot.controlplane.controllers.base import Controller, ControllerContext

log = logging.getLogger(__name__)
SYNC_PERIOD = 15.0
TARGET_KINDS = {"Deployment": "deployments", "ReplicaSet": "replicasets",
                "StatefulSet": "statefulsets"}
METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods"


class PodMetricsSource(Protocol):
    async def pod_usage(self, namespace: str) -> dict[str, dict[str, float]]:
        """pod name → resource (``cpu`` in cores, ``memory`` in bytes) → summed usage."""
        ...


class ApiPodMetrics:
    """PodMetrics read through the apiserver (the aggregated metrics API)."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    async def pod_usage(self, namespace: str) -> dict[str, dict[str, float]]:
        request = getattr(self.client, "request", None)
        config = getattr(self.client, "config", None)
        if request is None or config is None:
            raise hpa_math.MetricsUnavailable("this client cannot reach the metrics API")
        try:
            body = await request("GET", config.server + METRICS_PATH.format(ns=namespace))
        except ApiError as err:
            raise hpa_math.MetricsUnavailable(
                f"unable to get metrics for resource: unable to fetch metrics from resource "
                f"metrics API: {err}") from None
        return usage_by_pod(body)


def usage_by_pod(body: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for item in body.get("items") or []:
        totals: dict[str, float] = {}
        for container in item.get("containers") or []:
            for resource, value in (container.get("usage") or {}).items():
                totals[resource] = totals.get(resource, 0.0) + float(parse_quantity(value))
        out[item["metadata"]["name"]] = totals
    return out


def _now_text(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(type_: str, status: str, reason: str, message: str, now: str,
               old: list[Obj]) -> Obj:
    before = next((c for c in old if c.get("type") == type_), None)
    when = before["lastTransitionTime"] if before and before.get("status") == status else now
    return {"type": type_, "status": status, "lastTransitionTime": when, "reason": reason,
            "message": message}


def pod_info(pod: Obj, resource: str) -> hpa_math.PodInfo:
    status = pod.get("status") or {}
    ready = status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or [])
    ignored = bool(pod["metadata"].get("deletionTimestamp")) or status.get("phase") == "Failed"
    request = 0.0
    for container in (pod.get("spec") or {}).get("containers") or []:
        value = ((container.get("resources") or {}).get("requests") or {}).get(resource)
        if value is not None:
            request += float(parse_quantity(value))
    return hpa_math.PodInfo(pod["metadata"]["name"], ready, ignored, request)


class HpaController(Controller):
    name = "horizontalpodautoscaling"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.hpas = self.informer("horizontalpodautoscalers")
        self.pods = self.informer("pods")
        self.targets = {kind: self.informer(plural) for kind, plural in TARGET_KINDS.items()}
        self.hpas.add_handlers(Handlers(on_add=self.enqueue,
                                        on_update=lambda _o, n: self.enqueue(n),
                                        on_delete=self._forget))
        self.metrics: PodMetricsSource = ApiPodMetrics(ctx.client)
        self.history: dict[str, hpa_math.History] = {}

    def _forget(self, obj: Obj) -> None:
        self.history.pop(f"{obj['metadata']['namespace']}/{obj['metadata']['name']}", None)

    async def reconcile(self, key: str) -> Result:
        hpa = self.hpas.get(key)
        if hpa is None:
            self.history.pop(key, None)
            return Result()
        ns = hpa["metadata"]["namespace"]
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        now = self.clock.time()
        old_conditions = list((hpa.get("status") or {}).get("conditions") or [])
        target = self.targets.get(ref.get("kind", ""))
        obj = target.get(f"{ns}/{ref.get('name')}") if target else None
        if obj is None:
            message = (f'the HPA controller was unable to get the target\'s current scale: '
                       f'{ref.get("kind", "").lower()}s "{ref.get("name")}" not found'
                       if target else f"unsupported target kind {ref.get('kind')!r}")
            await self._status(hpa, now, current=0, desired=0, metrics=[], conditions=[
                _condition("AbleToScale", "False", "FailedGetScale", message,
                           _now_text(now), old_conditions)], scaled=False)
            return Result(requeue_after=SYNC_PERIOD)
        current = int((obj.get("spec") or {}).get("replicas", 1))
        low, high = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 1))
        history = self.history.setdefault(key, hpa_math.History())
        active: Obj
        current_metrics: list[Obj] = []
        if current == 0:
            desired = 0
            active = _condition("ScalingActive", "False", "ScalingDisabled", "scaling is "
                                "disabled since the replica count of the target is zero",
                                _now_text(now), old_conditions)
            decision = hpa_math.Decision(0, "", "")
        else:
            try:
                desired, current_metrics = await self._recommend(hpa, obj, current)
                active = _condition("ScalingActive", "True", "ValidMetricFound",
                                    "the HPA was able to successfully calculate a replica count "
                                    "from the metrics", _now_text(now), old_conditions)
            except hpa_math.MetricsUnavailable as err:
                desired = current
                active = _condition("ScalingActive", "False", "FailedGetResourceMetric",
                                    str(err), _now_text(now), old_conditions)
                self.ctx.recorder.event(hpa, "Warning", "FailedGetResourceMetric", str(err))
            decision = hpa_math.normalize(current=current, desired=desired, min_replicas=low,
                                          max_replicas=high, behavior=spec.get("behavior"),
                                          history=history, now=now)
        limited = _condition("ScalingLimited", "True" if decision.limited else "False",
                             decision.limited or "DesiredWithinRange", decision.message,
                             _now_text(now), old_conditions)
        scaled = False
        able = _condition("AbleToScale", "True", "ReadyForNewScale", "recommended size matches "
                          "current size", _now_text(now), old_conditions)
        if current and decision.replicas != current:
            try:
                await self.client.patch(TARGET_KINDS[ref["kind"]], ref["name"],
                                        {"spec": {"replicas": decision.replicas}},
                                        namespace=ns, subresource="scale")
            except ApiError as err:
                able = _condition("AbleToScale", "False", "FailedUpdateScale",
                                  f"the HPA controller was unable to update the target scale: "
                                  f"{err}", _now_text(now), old_conditions)
            else:
                scaled = True
                hpa_math.record_scale(history, decision.replicas - current, now)
                able = _condition("AbleToScale", "True", "SucceededRescale",
                                  f"the HPA controller was able to update the target scale to "
                                  f"{decision.replicas}", _now_text(now), old_conditions)
                why = ("resource metric above target" if decision.replicas > current
                       else "All metrics below target")
                self.ctx.recorder.event(hpa, "Normal", "SuccessfulRescale",
                                        f"New size: {decision.replicas}; reason: {why}")
        await self._status(hpa, now, current=current,
                           desired=decision.replicas if current else 0,
                           metrics=current_metrics, conditions=[able, active, limited],
                           scaled=scaled)
        return Result(requeue_after=SYNC_PERIOD)

    async def _recommend(self, hpa: Obj, target: Obj, current: int) -> tuple[int, list[Obj]]:
        ns = hpa["metadata"]["namespace"]
        try:
            selector = label_selector_from_dict((target.get("spec") or {}).get("selector"))
        except SelectorError as err:
            raise hpa_math.MetricsUnavailable(f"invalid selector of the target: {err}") from None
        pods = [p for p in self.pods.by_index("namespace", ns)
                if selector.matches(p["metadata"].get("labels") or {})]
        metrics = (hpa.get("spec") or {}).get("metrics") or [
            {"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 80}}}]
        usage = await self.metrics.pod_usage(ns)
        best, statuses = 0, []
        for metric in metrics:
            if metric.get("type") != "Resource":
                raise hpa_math.MetricsUnavailable(
                    f"metric type {metric.get('type')} is not supported by kboot's HPA "
                    "controller (only Resource metrics)")
            source = metric["resource"]
            resource, goal = source["name"], source.get("target") or {}
            utilization = goal.get("type") == "Utilization"
            value = (float(goal.get("averageUtilization", 0)) if utilization
                     else float(parse_quantity(goal.get("averageValue", "0"))))
            samples = {name: per[resource] for name, per in usage.items() if resource in per}
            outcome = hpa_math.resource_replicas(
                current, [pod_info(p, resource) for p in pods], samples, value,
                utilization=utilization, cpu=resource == "cpu")
            best = max(best, outcome.replicas)
            status: Obj = {"averageValue": _quantity(resource, outcome.average)}
            if outcome.utilization is not None:
                status["averageUtilization"] = outcome.utilization
            statuses.append({"type": "Resource",
                             "resource": {"name": resource, "current": status}})
        return best, statuses

    async def _status(self, hpa: Obj, now: float, *, current: int, desired: int,
                      metrics: list[Obj], conditions: list[Obj], scaled: bool) -> None:
        status: Obj = {"currentReplicas": current, "desiredReplicas": desired,
                       "conditions": conditions}
        if metrics:
            status["currentMetrics"] = metrics
        old = hpa.get("status") or {}
        if scaled:
            status["lastScaleTime"] = _now_text(now)
        elif old.get("lastScaleTime"):
            status["lastScaleTime"] = old["lastScaleTime"]
        if hpa.get("metadata", {}).get("generation"):
            status["observedGeneration"] = hpa["metadata"]["generation"]
        if status == old:
            return
        try:
            await self.client.replace_status("horizontalpodautoscalers", {**hpa,
                                                                          "status": status})
        except NotFound:
            pass
        except ApiError as err:
            log.info("status of HPA %s/%s not written: %s", hpa["metadata"]["namespace"],
                     hpa["metadata"]["name"], err)


def _quantity(resource: str, value: float) -> str:
    if resource == "cpu":
        return f"{round(value * 1000)}m"
    return str(round(value))
