"""``LimitRange`` (core/v1): its defaults, validation, table, and the LimitRanger admission rules.

Pure functions over JSON shapes, following upstream's ``LimitRanger`` plugin
(``plugin/pkg/admission/limitranger``) and ``ValidateLimitRange``:

* a ``Container`` item's ``default`` falls back to ``max`` and its ``defaultRequest`` to
  ``default`` then ``min`` (upstream's ``SetDefaults_LimitRangeItem``);
* :func:`default_pod` fills missing requests/limits of every container and init container from
  the ``Container`` items and records what it set in the ``kubernetes.io/limit-ranger``
  annotation;
* :func:`pod_violations` / :func:`claim_violations` return upstream's sentences for every
  ``min``/``max``/``maxLimitRequestRatio`` a pod (per container and per pod) or a claim breaks.

The apiserver step that reads the namespace's LimitRanges is :mod:`kboot.controlplane.apiserver.
limitranger`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from kboot.controlplane.api.field_errors import FieldError, invalid, not_supported, required
from kboot.controlplane.api.printers_base import sub
from kboot.controlplane.api.quantities import format_quantity, parse_quantity

Obj = dict[str, Any]
CONTAINER, POD, CLAIM = "Container", "Pod", "PersistentVolumeClaim"
TYPES = (CONTAINER, POD, CLAIM)
ANNOTATION = "kubernetes.io/limit-ranger"
_BOUNDS = ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio")
# upstream's order checks: (lower bound, upper bound, the field the error names, message)
_ORDER = (
    ("min", "max", "min", "min value {min} is greater than max value {max}"),
    ("min", "defaultRequest", "defaultRequest",
     "min value {min} is greater than default request value {defaultRequest}"),
    ("defaultRequest", "max", "defaultRequest",
     "default request value {defaultRequest} is greater than max value {max}"),
    ("defaultRequest", "default", "defaultRequest",
     "default request value {defaultRequest} is greater than default limit value {default}"),
    ("min", "default", "default", "min value {min} is greater than default value {default}"),
    ("default", "max", "default", "default value {default} is greater than max value {max}"),
)


def show(value: Any) -> str:
    """A quantity as upstream prints it (canonical; binary suffixes kept for binary input)."""
    text = str(value)
    return format_quantity(parse_quantity(text), binary=text.endswith("i"))


def _q(value: Any) -> Fraction | None:
    try:
        return parse_quantity(value)
    except (ValueError, TypeError, AttributeError):
        return None


# ------------------------------------------------------------------------------ defaults


def default_item(item: Obj) -> Obj:
    """Upstream's ``SetDefaults_LimitRangeItem``: ``default`` ← ``max``, ``defaultRequest`` ←
    ``default`` then ``min`` (Container items only)."""
    if item.get("type") != CONTAINER:
        return item
    out = dict(item)
    default = dict(out.get("default") or {})
    for key, value in (out.get("max") or {}).items():
        default.setdefault(key, value)
    request = dict(out.get("defaultRequest") or {})
    for key, value in [*default.items(), *(out.get("min") or {}).items()]:
        request.setdefault(key, value)
    if default:
        out["default"] = default
    if request:
        out["defaultRequest"] = request
    return out


def defaults(obj: Obj) -> Obj:
    """A LimitRange with its items defaulted."""
    spec = obj.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("limits"), list):
        return obj
    items = [default_item(i) if isinstance(i, dict) else i for i in spec["limits"]]
    return {**obj, "spec": {**spec, "limits": items}}


# ---------------------------------------------------------------------------- validation


def _bound_errors(path: str, item: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    values: dict[str, dict[str, Fraction]] = {}
    for bound in _BOUNDS:
        given = item.get(bound) or {}
        if not isinstance(given, dict):
            errors.append(invalid(f"{path}.{bound}", given, "must be a map of quantities"))
            continue
        values[bound] = {}
        for res, value in given.items():
            parsed = _q(value)
            if parsed is None:
                errors.append(invalid(f"{path}.{bound}[{res}]", value,
                                      "must be a valid quantity"))
            else:
                values[bound][res] = parsed
    mins, maxs = values.get("min", {}), values.get("max", {})
    raw = {b: item.get(b) or {} for b in _BOUNDS}
    for res in sorted({r for v in values.values() for r in v}):
        s = {b: show(raw[b][res]) for b in _BOUNDS if res in values.get(b, {})}
        for lower, upper, at, text in _ORDER:
            lo, hi = values.get(lower, {}).get(res), values.get(upper, {}).get(res)
            if lo is not None and hi is not None and lo > hi:
                errors.append(invalid(f"{path}.{at}[{res}]", s[at], text.format(**s)))
        lo, hi = mins.get(res), maxs.get(res)
        ratio = values.get("maxLimitRequestRatio", {}).get(res)
        if ratio is not None:
            where = f"{path}.maxLimitRequestRatio[{res}]"
            if ratio < 1:
                errors.append(invalid(where, s["maxLimitRequestRatio"],
                                      f"ratio {s['maxLimitRequestRatio']} is less than 1"))
            if lo is not None and hi is not None and lo > 0 and ratio > hi / lo:
                errors.append(invalid(where, s["maxLimitRequestRatio"],
                                      f"ratio {s['maxLimitRequestRatio']} is greater than "
                                      f"max/min = {float(hi / lo):f}"))
    return errors


def validate(obj: Obj, old: Obj | None) -> list[FieldError]:
    """Upstream's ``ValidateLimitRange`` for the spec (metadata is checked by the caller)."""
    items = sub(obj, "spec", "limits")
    if not isinstance(items, list):
        return [required("spec.limits")]
    errors: list[FieldError] = []
    for i, item in enumerate(items):
        path = f"spec.limits[{i}]"
        if not isinstance(item, dict):
            errors.append(invalid(path, item, "must be an object"))
            continue
        kind = item.get("type")
        if not kind:
            errors.append(required(f"{path}.type"))
        elif kind not in TYPES:
            errors.append(not_supported(f"{path}.type", kind, TYPES))
        if kind == POD:
            for bound in ("default", "defaultRequest"):
                if item.get(bound):
                    errors.append(FieldError("FieldValueForbidden", f"{path}.{bound}",
                                             detail="may not be specified when `type` is "
                                                    "'Pod'"))
        if kind == CLAIM and "storage" not in (item.get("min") or {}) and \
                "storage" not in (item.get("max") or {}):
            errors.append(required(f"{path}.limits", "either minimum or maximum storage value "
                                   "is required, but neither was provided"))
        errors += _bound_errors(path, item)
    return errors


# ------------------------------------------------------------------------------ defaulting


def _items(ranges: Iterable[Obj], kind: str) -> list[Obj]:
    return [default_item(i) for r in ranges for i in (sub(r, "spec", "limits") or [])
            if isinstance(i, dict) and i.get("type") == kind]


def default_pod(pod: Obj, ranges: Iterable[Obj]) -> Obj:
    """A copy of ``pod`` with missing container requests/limits filled from the ``Container``
    items (upstream's ``mergeContainerResources``), annotated with what was set."""
    items = _items(ranges, CONTAINER)
    if not items:
        return pod
    limits: dict[str, Any] = {}
    requests: dict[str, Any] = {}
    for item in items:
        limits.update(item.get("default") or {})
        requests.update(item.get("defaultRequest") or {})
    out = copy.deepcopy(pod)
    spec = out.get("spec") or {}
    notes: list[str] = []
    for group in ("containers", "initContainers"):
        for c in spec.get(group) or []:
            notes += _merge_container(c, limits, requests, init=group == "initContainers")
    if notes:
        meta = out.setdefault("metadata", {})
        meta["annotations"] = {**(meta.get("annotations") or {}),
                               ANNOTATION: "LimitRanger plugin set: " + "; ".join(notes)}
    return out


def _merge_container(c: Obj, limits: Mapping[str, Any], requests: Mapping[str, Any], *,
                     init: bool) -> list[str]:
    res = c.setdefault("resources", {})
    have_l = dict(res.get("limits") or {})
    have_r = dict(res.get("requests") or {})
    set_l = [k for k in limits if k not in have_l]
    for k in set_l:
        have_l[k] = limits[k]
    set_r = []
    for k, v in requests.items():
        if k in have_r:
            continue
        have_r[k] = v
        set_r.append(k)
    if have_l:
        res["limits"] = have_l
    if have_r:
        res["requests"] = have_r
    what = "init container" if init else "container"
    notes = []
    if set_r:
        notes.append(f"{', '.join(sorted(set_r))} request for {what} {c.get('name', '')}")
    if set_l:
        notes.append(f"{', '.join(sorted(set_l))} limit for {what} {c.get('name', '')}")
    return notes


# ----------------------------------------------------------------------------- enforcement


def _check(kind: str, item: Obj, requests: Mapping[str, Any], limits: Mapping[str, Any]
           ) -> list[str]:
    """Upstream's ``minConstraint``/``maxConstraint``/``limitRequestRatioConstraint``."""
    out: list[str] = []
    for res, bound in (item.get("min") or {}).items():
        lo, shown = _q(bound), show(bound)
        if lo is None:
            continue
        req, lim = requests.get(res), limits.get(res)
        if req is None:
            out.append(f"minimum {res} usage per {kind} is {shown}.  No request is specified")
        elif (_q(req) or 0) < lo:
            out.append(f"minimum {res} usage per {kind} is {shown}, but request is {show(req)}")
        if lim is not None and (_q(lim) or 0) < lo:
            out.append(f"minimum {res} usage per {kind} is {shown}, but limit is {show(lim)}")
    for res, bound in (item.get("max") or {}).items():
        hi, shown = _q(bound), show(bound)
        if hi is None:
            continue
        req, lim = requests.get(res), limits.get(res)
        if lim is None:
            out.append(f"maximum {res} usage per {kind} is {shown}.  No limit is specified")
        elif (_q(lim) or 0) > hi:
            out.append(f"maximum {res} usage per {kind} is {shown}, but limit is {show(lim)}")
        if req is not None and (_q(req) or 0) > hi:
            out.append(f"maximum {res} usage per {kind} is {shown}, but request is {show(req)}")
    for res, bound in (item.get("maxLimitRequestRatio") or {}).items():
        ratio, shown = _q(bound), show(bound)
        if ratio is None:
            continue
        req, lim = _q(requests.get(res, 0)) or Fraction(0), limits.get(res)
        if req == 0:
            out.append(f"{res} max limit to request ratio per {kind} is {shown}, but no "
                       "request is specified or request is 0.")
        elif lim is None:
            out.append(f"{res} max limit to request ratio per {kind} is {shown}, but no limit "
                       "is specified")
        elif (_q(lim) or 0) / req > ratio:
            out.append(f"{res} max limit to request ratio per {kind} is {shown}, but provided "
                       f"ratio is {float((_q(lim) or 0) / req):f}.")
    return out


def _resources(c: Obj, part: str) -> dict[str, Any]:
    value = sub(c, "resources", part)
    return dict(value) if isinstance(value, dict) else {}


def pod_totals(spec: Obj, part: str) -> dict[str, Fraction]:
    """A pod's effective ``requests`` or ``limits``: the containers' sum, at least each init
    container's value (upstream's ``PodRequests``/``PodLimits`` without overhead)."""
    total: dict[str, Fraction] = {}
    for c in spec.get("containers") or []:
        for res, value in _resources(c, part).items():
            total[res] = total.get(res, Fraction(0)) + (_q(value) or Fraction(0))
    for c in spec.get("initContainers") or []:
        for res, value in _resources(c, part).items():
            total[res] = max(total.get(res, Fraction(0)), _q(value) or Fraction(0))
    return total


def pod_violations(pod: Obj, ranges: Iterable[Obj]) -> list[str]:
    """Upstream's sentences for every bound the (defaulted) pod breaks."""
    ranges = list(ranges)
    spec = pod.get("spec") or {}
    out: list[str] = []
    for item in _items(ranges, CONTAINER):
        for group in ("containers", "initContainers"):
            for c in spec.get(group) or []:
                out += _check(CONTAINER, item, _resources(c, "requests"),
                              _resources(c, "limits"))
    pod_items = _items(ranges, POD)
    if pod_items:
        requests = {k: format_quantity(v) for k, v in pod_totals(spec, "requests").items()}
        limits = {k: format_quantity(v) for k, v in pod_totals(spec, "limits").items()}
        for item in pod_items:
            out += _check(POD, item, requests, limits)
    return out


def claim_violations(claim: Obj, ranges: Iterable[Obj]) -> list[str]:
    """Upstream's sentences for a PersistentVolumeClaim's ``storage`` bounds."""
    requests = sub(claim, "spec", "resources", "requests") or {}
    limits = sub(claim, "spec", "resources", "limits") or {}
    out: list[str] = []
    for item in _items(ranges, CLAIM):
        out += _check(CLAIM, {k: v for k, v in item.items() if k in ("min", "max")},
                      dict(requests), dict(limits))
    return out


def aggregate(messages: list[str]) -> str:
    """Upstream's aggregate error text: one message as is, several in brackets."""
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
