"""Validation of APIService and HorizontalPodAutoscaler (upstream's rules, the ones users hit).

APIService: the name is ``<version>.<group>`` (``v1.`` for core), priorities are positive,
a service-backed one needs either ``caBundle`` or ``insecureSkipTLSVerify`` (not both), a local
one neither. HorizontalPodAutoscaler: ``minReplicas`` ≥ 1, ``maxReplicas`` ≥ ``minReplicas``,
a target reference with kind and name, every metric a supported type with its source block and
a target of the right type, behavior policies positive with a window of at most an hour.
"""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api.field_errors import (
    FieldError,
    check_enum,
    forbidden,
    in_range,
    invalid,
    required,
)
from kboot.controlplane.api.shapes import Obj

_METRIC_TYPES = ("Resource", "ContainerResource", "Pods", "Object", "External")
_TARGET_TYPES = ("Utilization", "Value", "AverageValue")
_MAX_WINDOW = 3600


def validate_apiservice(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    group, version = str(spec.get("group") or ""), str(spec.get("version") or "")
    name = str((obj.get("metadata") or {}).get("name") or "")
    if not version:
        errors.append(required("spec.version"))
    if name != f"{version}.{group}":
        errors.append(invalid("metadata.name", name, f'must be "{version}.{group}"'))
    errors += in_range("spec.groupPriorityMinimum", spec.get("groupPriorityMinimum", 0), 1,
                       20000)
    errors += in_range("spec.versionPriority", spec.get("versionPriority", 0), 1, 1000)
    if spec.get("service") is None:
        if spec.get("caBundle"):
            errors.append(forbidden("spec.caBundle", "local APIServices may not have a caBundle"))
        if spec.get("insecureSkipTLSVerify"):
            errors.append(forbidden("spec.insecureSkipTLSVerify",
                                    "local APIServices may not have insecureSkipTLSVerify"))
    elif spec.get("insecureSkipTLSVerify") and spec.get("caBundle"):
        errors.append(invalid("spec.insecureSkipTLSVerify", True,
                              "may not be true if caBundle is present"))
    return errors


def _target(path: str, target: Any, *, resource: bool) -> list[FieldError]:
    if not isinstance(target, dict):
        return [required(path)]
    kind = target.get("type")
    errors = check_enum(f"{path}.type", kind, _TARGET_TYPES)
    if kind == "Utilization" and not resource:
        errors.append(invalid(f"{path}.type", kind, "Utilization is only for resource metrics"))
    field = {"Utilization": "averageUtilization", "Value": "value",
             "AverageValue": "averageValue"}.get(str(kind))
    if field and target.get(field) is None:
        errors.append(required(f"{path}.{field}", f"must be set when type is {kind}"))
    if kind == "Utilization" and isinstance(target.get(field), int):
        errors += in_range(f"{path}.averageUtilization", target[field], 1)
    return errors


def _metrics(metrics: Any) -> list[FieldError]:
    errors: list[FieldError] = []
    for i, metric in enumerate(metrics if isinstance(metrics, list) else []):
        path = f"spec.metrics[{i}]"
        kind = metric.get("type")
        errors += check_enum(f"{path}.type", kind, _METRIC_TYPES)
        block_name = str(kind)[:1].lower() + str(kind)[1:] if kind else ""
        block = metric.get(block_name) if block_name else None
        if kind in _METRIC_TYPES and not isinstance(block, dict):
            errors.append(required(f"{path}.{block_name}", f"must be populated for type {kind}"))
            continue
        if isinstance(block, dict):
            if kind in ("Resource", "ContainerResource") and not block.get("name"):
                errors.append(required(f"{path}.{block_name}.name"))
            errors += _target(f"{path}.{block_name}.target", block.get("target"),
                              resource=kind in ("Resource", "ContainerResource"))
    return errors


def _rules(path: str, rules: Any) -> list[FieldError]:
    if not isinstance(rules, dict):
        return []
    errors: list[FieldError] = []
    window = rules.get("stabilizationWindowSeconds")
    if window is not None:
        errors += in_range(f"{path}.stabilizationWindowSeconds", window, 0, _MAX_WINDOW)
    errors += check_enum(f"{path}.selectPolicy", rules.get("selectPolicy", "Max"),
                         ("Max", "Min", "Disabled"))
    for j, policy in enumerate(rules.get("policies") or []):
        p = f"{path}.policies[{j}]"
        errors += check_enum(f"{p}.type", policy.get("type"), ("Pods", "Percent"))
        errors += in_range(f"{p}.value", policy.get("value", 0), 1)
        errors += in_range(f"{p}.periodSeconds", policy.get("periodSeconds", 0), 1, 1800)
    return errors


def validate_hpa(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    ref = spec.get("scaleTargetRef") or {}
    for key in ("kind", "name"):
        if not ref.get(key):
            errors.append(required(f"spec.scaleTargetRef.{key}"))
    low = spec.get("minReplicas", 1)
    if isinstance(low, int):
        errors += in_range("spec.minReplicas", low, 1)
    high = spec.get("maxReplicas")
    if not isinstance(high, int):
        errors.append(required("spec.maxReplicas"))
    elif isinstance(low, int) and high < low:
        errors.append(invalid("spec.maxReplicas", high, "must be greater than or equal to "
                                                         "`minReplicas`"))
    errors += _metrics(spec.get("metrics"))
    behavior = spec.get("behavior") or {}
    errors += _rules("spec.behavior.scaleUp", behavior.get("scaleUp"))
    errors += _rules("spec.behavior.scaleDown", behavior.get("scaleDown"))
    return errors
