"""The pure rules of ``policy/v1`` PodDisruptionBudgets, shared by validation, the disruption
controller and the ``pods/eviction`` subresource (upstream: ``pkg/apis/policy/validation``,
``pkg/controller/disruption``, ``pkg/registry/core/pod/storage/eviction.go``).

Keeping the arithmetic here, apart from I/O, lets the unit tests pin the rounding and the
refusals exactly as upstream has them, and keeps the controller and the apiserver agreeing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kboot.controlplane.api.field_errors import FieldError, check_enum, invalid
from kboot.controlplane.api.selectors import SelectorError, label_selector_from_dict
from kboot.controlplane.errors import ControlPlaneError

Obj = dict[str, Any]

_PERCENT = re.compile(r"^[0-9]+%$")
POLICIES = ("AlwaysAllow", "IfHealthyBudget")
# Upstream forgets a disrupted pod after two minutes even if it was never deleted, and refuses
# evictions once this many are pending.
DELETION_TIMEOUT = timedelta(minutes=2)
MAX_DISRUPTED_PODS = 2000
EVICTION_REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."


def scaled_value(value: int | str, total: int, *, round_up: bool) -> int:
    """An int, or a percent string of ``total`` rounded up or down (upstream's
    ``GetScaledValueFromIntOrPercent``); ``ValueError`` for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    if not _PERCENT.match(value):
        raise ValueError(f"invalid value for IntOrString: invalid type: string is not a "
                         f"percentage: {value!r}")
    percent = int(value[:-1])
    whole, rest = divmod(percent * total, 100)
    return whole + (1 if round_up and rest else 0)


def _int_or_percent(path: str, value: Any) -> list[FieldError]:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return [invalid(path, value, "must be an integer or percentage (e.g. '5%')")]
    if isinstance(value, int):
        return [invalid(path, value, "must be greater than or equal to 0")] if value < 0 else []
    if not _PERCENT.match(value):
        return [invalid(path, value, "a valid percent string must be a numeric string "
                                     "followed by an ending '%' (e.g. '1%',  or '93%', regex "
                                     "used for validation is '[0-9]+%')")]
    if int(value[:-1]) > 100:
        return [invalid(path, value, "must not be greater than 100%")]
    return []


def validate_pdb(obj: Obj, old: Obj | None) -> list[FieldError]:
    """Upstream's ``ValidatePodDisruptionBudgetSpec``: the two bounds are exclusive, each an
    int >= 0 or a percent <= 100%, the selector parses, the policy is known. (Upstream accepts
    neither bound: such a budget wants 0 healthy pods and so never blocks.)"""
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    low, high = spec.get("minAvailable"), spec.get("maxUnavailable")
    if low is not None and high is not None:
        errors.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    if low is not None:
        errors += _int_or_percent("spec.minAvailable", low)
    if high is not None:
        errors += _int_or_percent("spec.maxUnavailable", high)
    selector = spec.get("selector")
    if selector is not None:
        try:
            label_selector_from_dict(selector)
        except SelectorError as exc:
            errors.append(invalid("spec.selector", selector, exc.message))
    errors += check_enum("spec.unhealthyPodEvictionPolicy",
                         spec.get("unhealthyPodEvictionPolicy"), POLICIES)
    return errors


def pod_ready(pod: Obj) -> bool:
    """Healthy as upstream counts it: condition ``Ready`` true and not being deleted."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


@dataclass(frozen=True)
class Budget:
    """What a budget wants of the pods it selects: ``expected`` pods, ``desired`` healthy."""

    expected: int
    desired: int


def budget(spec: Obj, pod_count: int, scale: int) -> Budget:
    """Upstream's ``getExpectedPodCount``: an integer ``minAvailable`` counts the selected pods;
    a percentage or ``maxUnavailable`` counts the replicas their controllers want (``scale``).
    ``maxUnavailable`` percentages round up (so fewer must be healthy), ``minAvailable`` ones
    round up too (so more must be healthy)."""
    high, low = spec.get("maxUnavailable"), spec.get("minAvailable")
    if high is not None:
        allowed = scaled_value(high, scale, round_up=True)
        return Budget(scale, max(0, scale - allowed))
    if low is None:
        return Budget(0, 0)
    if isinstance(low, int) and not isinstance(low, bool):
        return Budget(pod_count, low)
    return Budget(scale, scaled_value(low, scale, round_up=True))


def disruptions_allowed(healthy: int, wanted: Budget) -> int:
    if wanted.expected <= 0:
        return 0
    return max(0, healthy - wanted.desired)


def live_disruptions(disrupted: dict[str, str], pods: dict[str, Obj],
                     now: datetime) -> dict[str, str]:
    """The ``status.disruptedPods`` entries still pending: the pod exists, is not yet being
    deleted and was evicted less than :data:`DELETION_TIMEOUT` ago."""
    kept: dict[str, str] = {}
    for name, stamp in disrupted.items():
        pod = pods.get(name)
        if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        try:
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            continue
        if when + DELETION_TIMEOUT > now:
            kept[name] = stamp
    return kept


def condition(allowed: int, generation: int, now: str, old: list[Obj]) -> Obj:
    """The ``DisruptionAllowed`` condition (``SufficientPods``/``InsufficientPods``); the
    transition time is kept while the status does not change."""
    status = "True" if allowed > 0 else "False"
    previous = next((c for c in old if c.get("type") == "DisruptionAllowed"), None)
    since = (previous.get("lastTransitionTime") if previous
             and previous.get("status") == status else None) or now
    return {"type": "DisruptionAllowed", "status": status,
            "reason": "SufficientPods" if allowed > 0 else "InsufficientPods",
            "message": "", "observedGeneration": generation, "lastTransitionTime": since}


class EvictionRefused(ControlPlaneError):
    """The budget forbids the eviction now: ``code`` 429 (retry later) or 403 (never)."""

    def __init__(self, code: int, message: str, cause: str) -> None:
        super().__init__(message)
        self.code, self.message, self.cause = code, message, cause


def take_disruption(pdb: Obj, pod_name: str, stamp: str) -> Obj:
    """The budget after evicting ``pod_name`` (upstream's ``checkAndDecrement``): one fewer
    disruption allowed and the pod recorded in ``status.disruptedPods`` so the controller
    counts it unhealthy until it is gone. Raises :class:`EvictionRefused` otherwise."""
    meta, status = pdb.get("metadata") or {}, dict(pdb.get("status") or {})
    name = meta.get("name", "")
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        raise EvictionRefused(429, EVICTION_REFUSED, f"The disruption budget {name} is still "
                                                     "being processed by the server.")
    allowed = status.get("disruptionsAllowed", 0)
    if allowed < 0:
        raise EvictionRefused(403, "pdb disruptions allowed is negative", "")
    disrupted = dict(status.get("disruptedPods") or {})
    if len(disrupted) > MAX_DISRUPTED_PODS:
        raise EvictionRefused(403, "DisruptedPods map too big - too many evictions not "
                                   "confirmed by PDB controller", "")
    if allowed == 0:
        raise EvictionRefused(429, EVICTION_REFUSED, (
            f"The disruption budget {name} needs {status.get('desiredHealthy', 0)} healthy "
            f"pods and has {status.get('currentHealthy', 0)} currently"))
    disrupted[pod_name] = stamp
    status.update(disruptionsAllowed=allowed - 1, disruptedPods=disrupted)
    return {**pdb, "status": status}
