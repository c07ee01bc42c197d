"""Printers of the aggregation and autoscaling kinds: ``kubectl get apiservices`` and
``kubectl get hpa`` show upstream's columns.

APIService: NAME, SERVICE (``namespace/name`` or ``Local``), AVAILABLE (the condition status,
``False (Reason)`` when it is not True), AGE. HorizontalPodAutoscaler: NAME, REFERENCE
(``Kind/name``), TARGETS (``cpu: 45%/50%`` per metric, ``<unknown>`` before the first
measurement, at most three then ``+ N more...``), MINPODS, MAXPODS, REPLICAS, AGE.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kboot.controlplane.api.printers_base import (
    AGE,
    NAME,
    Obj,
    Printer,
    age,
    column,
    maps,
    sub,
)

UNKNOWN = "<unknown>"


def _apiservice_cells(obj: Obj, now: datetime) -> list[Any]:
    service = sub(obj, "spec", "service")
    where = (f"{service.get('namespace', '')}/{service.get('name', '')}"
             if isinstance(service, dict) else "Local")
    available = "Unknown"
    for cond in maps(sub(obj, "status", "conditions")):
        if cond.get("type") == "Available":
            available = str(cond.get("status", "Unknown"))
            if available != "True":
                available = f"{available} ({cond.get('reason', '')})"
    return [where, available, age(obj, now)]


APISERVICE = Printer(
    (NAME, column("Service", description="The reference to the service that hosts this API "
                                         "endpoint."),
     column("Available", description="Whether this service is available."), AGE),
    _apiservice_cells,
)


def _target_text(target: Any) -> str:
    if not isinstance(target, dict):
        return UNKNOWN
    if target.get("type") == "Utilization" or "averageUtilization" in target:
        return f"{target.get('averageUtilization', 0)}%"
    if "averageValue" in target:
        return str(target["averageValue"])
    return str(target.get("value", UNKNOWN))


def _current_text(current: Any, target: Any) -> str:
    if not isinstance(current, dict):
        return UNKNOWN
    if isinstance(target, dict) and target.get("type") == "Utilization":
        value = current.get("averageUtilization")
        return UNKNOWN if value is None else f"{value}%"
    if isinstance(target, dict) and target.get("type") == "AverageValue":
        return str(current.get("averageValue", UNKNOWN))
    return str(current.get("value", current.get("averageValue", UNKNOWN)))


def metric_texts(obj: Obj) -> list[str]:
    """One ``name: current/target`` text per metric of the spec (upstream's order)."""
    current_by_name: dict[tuple[str, str], Any] = {}
    for status in maps(sub(obj, "status", "currentMetrics")):
        source_type = str(status.get("type", ""))
        block = status.get(_field(source_type))
        if isinstance(block, dict):
            current_by_name[(source_type, str(block.get("name", "")))] = block.get("current")
    out = []
    for spec in maps(sub(obj, "spec", "metrics")):
        source_type = str(spec.get("type", ""))
        block = spec.get(_field(source_type))
        if not isinstance(block, dict):
            out.append(UNKNOWN)
            continue
        name = str(block.get("name") or sub(block, "metric", "name") or "")
        target = block.get("target")
        current = _current_text(current_by_name.get((source_type, name)), target)
        prefix = f"{name}: " if source_type in ("Resource", "ContainerResource") else ""
        out.append(f"{prefix}{current}/{_target_text(target)}")
    return out


def _field(source_type: str) -> str:
    return source_type[:1].lower() + source_type[1:]


def _targets(obj: Obj) -> str:
    texts = metric_texts(obj)
    if not texts:
        return "<none>"
    shown = ", ".join(texts[:3])
    return shown + (f" + {len(texts) - 3} more..." if len(texts) > 3 else "")


def _hpa_cells(obj: Obj, now: datetime) -> list[Any]:
    ref = sub(obj, "spec", "scaleTargetRef") or {}
    reference = f"{ref.get('kind', '')}/{ref.get('name', '')}" if isinstance(ref, dict) else ""
    min_pods = sub(obj, "spec", "minReplicas")
    return [reference, _targets(obj), "<unset>" if min_pods is None else min_pods,
            sub(obj, "spec", "maxReplicas") or 0,
            sub(obj, "status", "currentReplicas") or 0, age(obj, now)]


HPA = Printer(
    (NAME,
     column("Reference", description="Reference to the target resource"),
     column("Targets", description="the current and target metrics"),
     column("MinPods", "integer", "lower limit for the number of pods"),
     column("MaxPods", "integer", "upper limit for the number of pods"),
     column("Replicas", "integer", "current number of replicas"), AGE),
    _hpa_cells,
)

AUTOSCALING_PRINTERS: dict[str, Printer] = {"APIService": APISERVICE,
                                            "HorizontalPodAutoscaler": HPA}
