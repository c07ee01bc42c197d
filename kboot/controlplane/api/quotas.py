"""``ResourceQuota`` (core/v1): validation, table, and the quota arithmetic upstream's
``ResourceQuota`` admission plugin and quota controller share (``pkg/quota/v1``).

:func:`usage` is what one object charges (``pods``, ``count/<resource>.<group>``, compute
requests and limits, storage, node ports, load balancers); :func:`matches` says whether a quota's
``scopes``/``scopeSelector`` cover it; :func:`charge` adds a new object to a quota's
``status.used`` or returns upstream's ``exceeded quota`` / ``must specify`` sentence. All pure:
the apiserver step (:mod:`kboot.controlplane.apiserver.resourcequota`) and the controller
(:mod:`kboot.controlplane.controllers.resourcequota`) bring the objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from kboot.controlplane.api.errors import ApiRuleError
from kboot.controlplane.api.field_errors import (
    FieldError,
    check_enum,
    invalid,
    not_supported,
    required,
)
from kboot.controlplane.api.limitranges import pod_totals
from kboot.controlplane.api.printers_base import AGE, NAME, Printer, age, column, sub
from kboot.controlplane.api.quantities import format_quantity, parse_quantity

Obj = dict[str, Any]
Usage = dict[str, Fraction]

SCOPES = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass",
          "CrossNamespacePodAffinity")
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_CONFLICTS = (("Terminating", "NotTerminating"), ("BestEffort", "NotBestEffort"))
# resources whose use a pod must state per container once a quota limits them (upstream's
# backward-compatibility rule in podEvaluator.Constraints)
COMPUTE = ("cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
_BEST_EFFORT_OK = {"pods"}
_NAME_RE = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[-A-Za-z0-9_.]+$")
STORAGE_CLASS = ".storageclass.storage.k8s.io/"
# the bare names of object counts (upstream's legacy names)
_LEGACY = {"pods", "services", "configmaps", "secrets", "persistentvolumeclaims",
           "replicationcontrollers", "resourcequotas"}


def _q(value: Any) -> Fraction | None:
    try:
        return parse_quantity(value)
    except (ValueError, TypeError, AttributeError):
        return None


def show(name: str, value: Fraction) -> str:
    """A quantity as upstream prints it: memory/storage in binary units when exact."""
    binary = "memory" in name or "storage" in name
    return format_quantity(value, binary=binary)


# ---------------------------------------------------------------------------- validation


def _scoped_resource_ok(scope: str, resource: str) -> bool:
    if scope in ("BestEffort",):
        return resource in _BEST_EFFORT_OK or resource == "count/pods"
    return resource in {"pods", "count/pods", *COMPUTE, "requests.ephemeral-storage",
                        "limits.ephemeral-storage", "ephemeral-storage"} or \
        resource.startswith(("requests.", "limits."))


def validate(obj: Obj, old: Obj | None) -> list[FieldError]:
    """Upstream's ``ValidateResourceQuota`` (spec and status quantities, scopes, selector)."""
    errors: list[FieldError] = []
    spec = obj.get("spec") or {}
    for part, hard in (("spec.hard", spec.get("hard")),
                       ("status.hard", sub(obj, "status", "hard")),
                       ("status.used", sub(obj, "status", "used"))):
        errors += _quantities(part, hard)
    scopes = [s for s in spec.get("scopes") or [] if isinstance(s, str)]
    for i, scope in enumerate(scopes):
        errors += check_enum(f"spec.scopes[{i}]", scope, SCOPES)
    selector = spec.get("scopeSelector") or {}
    for i, req in enumerate(selector.get("matchExpressions") or []):
        errors += _scope_requirement(f"spec.scopeSelector.matchExpressions[{i}]", req)
        if isinstance(req, dict) and isinstance(req.get("scopeName"), str):
            scopes.append(req["scopeName"])
    for a, b in _CONFLICTS:
        if a in scopes and b in scopes:
            errors.append(invalid("spec.scopes", scopes, f"conflicting scopes: {a}, {b}"))
    for res in (spec.get("hard") or {}) if scopes else ():
        for scope in scopes:
            if scope in SCOPES and not _scoped_resource_ok(scope, res):
                errors.append(invalid("spec.scopes", scopes,
                                      "unsupported scope applied to resource"))
                return errors
    return errors


def _quantities(path: str, hard: Any) -> list[FieldError]:
    if hard is None:
        return []
    if not isinstance(hard, dict):
        return [invalid(path, hard, "must be a map of resource names to quantities")]
    errors: list[FieldError] = []
    for res, value in hard.items():
        where = f"{path}[{res}]"
        if not isinstance(res, str) or not _NAME_RE.match(res) or len(res) > 253:
            errors.append(invalid(path, res, "must be a standard resource for quota or a "
                                  "qualified name"))
            continue
        parsed = _q(value)
        if parsed is None:
            errors.append(invalid(where, value, "must be a valid quantity"))
        elif parsed < 0:
            errors.append(invalid(where, value, "must be greater than or equal to 0"))
        elif parsed.denominator != 1 and (res in _LEGACY or res.startswith("count/") or
                                          res.endswith(("persistentvolumeclaims", ".nodeports",
                                                        ".loadbalancers"))):
            errors.append(invalid(where, value, "must be an integer"))
    return errors


def _scope_requirement(path: str, req: Any) -> list[FieldError]:
    if not isinstance(req, dict):
        return [invalid(path, req, "must be an object")]
    errors = check_enum(f"{path}.scopeName", req.get("scopeName"), SCOPES)
    op = req.get("operator")
    if not op:
        return [*errors, required(f"{path}.operator")]
    if op not in OPERATORS:
        return [*errors, not_supported(f"{path}.operator", op, OPERATORS)]
    values = req.get("values") or []
    if op in ("In", "NotIn") and not values:
        errors.append(required(f"{path}.values",
                               "must be at least one value when `operator` is 'In' or 'NotIn' "
                               "for scope selector"))
    if op in ("Exists", "DoesNotExist") and values:
        errors.append(invalid(f"{path}.values", values, "must be no value when `operator` is "
                              "'Exist' or 'DoesNotExist' for scope selector"))
    if req.get("scopeName") in ("Terminating", "NotTerminating", "BestEffort",
                                "NotBestEffort") and op != "Exists":
        errors.append(invalid(f"{path}.operator", op,
                              "must be 'Exist' when scope is any of ResourceQuotaScopeTerminating, "
                              "ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort or "
                              "ResourceQuotaScopeNotBestEffort"))
    return errors


# ------------------------------------------------------------------------------ arithmetic


def count_name(plural: str, group: str) -> str:
    """The ``count/<resource>[.<group>]`` name of a kind."""
    return f"count/{plural}.{group}" if group else f"count/{plural}"


def pod_counts(pod: Obj) -> bool:
    """Whether a pod uses quota: not finished, and not past a grace-0 delete (upstream's
    ``QuotaV1Pod``)."""
    phase = sub(pod, "status", "phase")
    if phase in ("Succeeded", "Failed"):
        return False
    meta = pod.get("metadata") or {}
    return not (meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds") == 0)


def _pod_usage(pod: Obj) -> Usage:
    if not pod_counts(pod):
        return {}
    spec = pod.get("spec") or {}
    out: Usage = {"pods": Fraction(1), "count/pods": Fraction(1)}
    overhead = {k: _q(v) or Fraction(0) for k, v in (spec.get("overhead") or {}).items()}
    for part in ("requests", "limits"):
        for res, value in pod_totals(spec, part).items():
            out[f"{part}.{res}"] = value + overhead.get(res, Fraction(0))
    for res in ("cpu", "memory", "ephemeral-storage"):
        if f"requests.{res}" in out:
            out[res] = out[f"requests.{res}"]
    return out


def _service_usage(svc: Obj) -> Usage:
    spec = svc.get("spec") or {}
    out: Usage = {"services": Fraction(1), "count/services": Fraction(1)}
    kind = spec.get("type") or "ClusterIP"
    if kind == "LoadBalancer":
        out["services.loadbalancers"] = Fraction(1)
    if kind in ("NodePort", "LoadBalancer"):
        out["services.nodeports"] = Fraction(len(spec.get("ports") or []))
    return out


def _claim_usage(claim: Obj) -> Usage:
    out: Usage = {"persistentvolumeclaims": Fraction(1),
                  "count/persistentvolumeclaims": Fraction(1)}
    storage = _q(sub(claim, "spec", "resources", "requests", "storage")) or Fraction(0)
    out["requests.storage"] = storage
    cls = sub(claim, "spec", "storageClassName")
    if cls:
        out[f"{cls}{STORAGE_CLASS}requests.storage"] = storage
        out[f"{cls}{STORAGE_CLASS}persistentvolumeclaims"] = Fraction(1)
    return out


def usage(plural: str, group: str, obj: Obj) -> Usage:
    """What ``obj`` charges against a quota in its namespace."""
    if not group and plural == "pods":
        return _pod_usage(obj)
    if not group and plural == "services":
        return _service_usage(obj)
    if not group and plural == "persistentvolumeclaims":
        return _claim_usage(obj)
    out = {count_name(plural, group): Fraction(1)}
    if not group and plural in _LEGACY:
        out[plural] = Fraction(1)
    return out


def sources(names: Iterable[str]) -> set[tuple[str, str]]:
    """The (plural, group) of every kind whose objects the quota names ``names`` count."""
    out: set[tuple[str, str]] = set()
    for name in names:
        if name.startswith("count/"):
            plural, _, group = name[len("count/"):].partition(".")
            out.add((plural, group))
        elif name in _LEGACY:
            out.add((name, ""))
        elif name.startswith("services."):
            out.add(("services", ""))
        elif ("storage" in name and "ephemeral" not in name) or name.endswith(
                "persistentvolumeclaims"):
            out.add(("persistentvolumeclaims", ""))
        else:
            out.add(("pods", ""))
    return out


def _is_best_effort(pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    return not any(sub(c, "resources", "requests") or sub(c, "resources", "limits")
                   for group in ("containers", "initContainers") for c in spec.get(group) or [])


def _scope_matches(scope: str, pod: Obj, req: Mapping[str, Any] | None) -> bool:
    spec = pod.get("spec") or {}
    if scope == "Terminating":
        return spec.get("activeDeadlineSeconds") is not None
    if scope == "NotTerminating":
        return spec.get("activeDeadlineSeconds") is None
    if scope == "BestEffort":
        return _is_best_effort(pod)
    if scope == "NotBestEffort":
        return not _is_best_effort(pod)
    if scope == "PriorityClass":
        name = spec.get("priorityClassName") or ""
        op = (req or {}).get("operator", "Exists")
        values = (req or {}).get("values") or []
        return {"In": name in values, "NotIn": name not in values, "Exists": bool(name),
                "DoesNotExist": not name}.get(op, False)
    if scope == "CrossNamespacePodAffinity":
        return False
    return False


def matches(quota: Obj, plural: str, group: str, obj: Obj) -> bool:
    """Whether ``quota``'s scopes cover ``obj`` (scoped quotas only ever cover pods)."""
    spec = quota.get("spec") or {}
    scopes = spec.get("scopes") or []
    exprs = sub(spec, "scopeSelector", "matchExpressions") or []
    if not scopes and not exprs:
        return True
    if group or plural != "pods":
        return False
    return all(_scope_matches(s, obj, None) for s in scopes) and all(
        _scope_matches(e.get("scopeName", ""), obj, e) for e in exprs if isinstance(e, dict))


def total(objects: Iterable[tuple[str, str, Obj]], quota: Obj) -> Usage:
    """``status.used`` of ``quota`` over ``objects`` (plural, group, object), for its hard
    names only."""
    hard = sub(quota, "spec", "hard") or {}
    used: Usage = {name: Fraction(0) for name in hard}
    for plural, group, obj in objects:
        if not matches(quota, plural, group, obj):
            continue
        for name, value in usage(plural, group, obj).items():
            if name in used:
                used[name] += value
    return used


def render(values: Mapping[str, Fraction]) -> dict[str, str]:
    return {k: show(k, v) for k, v in values.items()}


def _pretty(values: Mapping[str, Fraction]) -> str:
    return ",".join(f"{k}={show(k, values[k])}" for k in sorted(values))


def missing_requests(pod: Obj, hard: Iterable[str]) -> str | None:
    """Upstream's ``must specify …`` sentence when a compute quota covers a pod whose
    containers do not state the resource (None when all do)."""
    wanted = sorted(set(hard) & set(COMPUTE))
    missing: dict[str, set[str]] = {}
    spec = pod.get("spec") or {}
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        requests = sub(c, "resources", "requests") or {}
        limits = sub(c, "resources", "limits") or {}
        for name in wanted:
            part, _, res = name.rpartition(".")
            have = limits if part == "limits" else requests
            if res not in have:
                missing.setdefault(name, set()).add(str(c.get("name", "")))
    if not missing:
        return None
    return "must specify " + "; ".join(f"{k} for: {','.join(sorted(v))}"
                                       for k, v in sorted(missing.items()))


class QuotaRefused(ApiRuleError):
    """A write the quota does not allow; the message is upstream's sentence."""

    code = 403
    reason = "Forbidden"


def charge(quota: Obj, delta: Mapping[str, Fraction]) -> Usage:
    """The quota's new ``status.used`` with ``delta`` added; :class:`QuotaRefused` with
    upstream's ``exceeded quota`` sentence when a hard limit would be passed."""
    name = sub(quota, "metadata", "name") or ""
    hard = {k: _q(v) or Fraction(0) for k, v in (sub(quota, "spec", "hard") or {}).items()}
    used = {k: _q(v) or Fraction(0) for k, v in (sub(quota, "status", "used") or {}).items()}
    new = dict(used)
    over: list[str] = []
    for res, amount in delta.items():
        if res not in hard:
            continue
        new[res] = used.get(res, Fraction(0)) + amount
        if amount > 0 and new[res] > hard[res]:
            over.append(res)
    if over:
        raise QuotaRefused(
            f"exceeded quota: {name}, requested: {_pretty({k: delta[k] for k in over})}, "
            f"used: {_pretty({k: used.get(k, Fraction(0)) for k in over})}, "
            f"limited: {_pretty({k: hard[k] for k in over})}")
    return new


# --------------------------------------------------------------------------------- table


def _pairs(quota: Mapping[str, Any]) -> tuple[str, str]:
    hard = sub(quota, "status", "hard") or sub(quota, "spec", "hard") or {}
    used = sub(quota, "status", "used") or {}
    requests: list[str] = []
    limits: list[str] = []
    for res in sorted(hard):
        text = f"{res}: {used.get(res, '0')}/{hard[res]}"
        (limits if res.startswith("limits.") else requests).append(text)
    return ", ".join(requests), ", ".join(limits)


PRINTER = Printer(
    (NAME, AGE, column("Request", description="Request represents a minimum amount of cpu/"
                                              "memory that a container may consume."),
     column("Limit", description="Limits control the maximum amount of cpu/memory that a "
                                 "container may use independent of contention on the node.")),
    lambda q, now: [age(q, now), *_pairs(q)],
)
