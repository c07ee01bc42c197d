"""Semantic validation of pods, pod templates and the workloads that own templates.

Messages and paths follow upstream (``spec.template.spec.containers[0].image: Required
value``; ``selector` does not match template `labels```), since kubectl prints them verbatim.
Each rule is ``rule(obj, old) -> list[FieldError]`` with ``old`` set on updates.
"""

from __future__ import annotations

import copy
import re
from fractions import Fraction
from typing import Any

from kboot.controlplane.api import names
from kboot.controlplane.api.field_errors import (
    FieldError,
    check_enum,
    duplicate,
    forbidden,
    immutable,
    in_range,
    invalid,
    not_found,
    not_supported,
    required,
)
from kboot.controlplane.api.quantities import parse_quantity
from kboot.controlplane.api.selectors import SelectorError, label_selector_from_dict

Obj = dict[str, Any]

PROTOCOLS = ("SCTP", "TCP", "UDP")
_PULL = ("Always", "IfNotPresent", "Never")
_RESTART = ("Always", "OnFailure", "Never")
_DNS = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")


def dicts(value: Any) -> list[Obj]:
    """The mapping items of a list field (anything else: none)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def validate_port(port: Obj, path: str, seen_names: set[str]) -> list[FieldError]:
    errors = in_range(f"{path}.containerPort", port.get("containerPort"), 1, 65535)
    if port.get("hostPort"):
        errors += in_range(f"{path}.hostPort", port["hostPort"], 1, 65535)
    errors += check_enum(f"{path}.protocol", port.get("protocol"), PROTOCOLS)
    name = port.get("name")
    if name:
        errors += [invalid(f"{path}.name", name, e) for e in names.is_port_name(name)]
        if name in seen_names:
            errors.append(duplicate(f"{path}.name", name))
        seen_names.add(name)
    return errors


def validate_port_num_or_name(value: Any, path: str) -> list[FieldError]:
    """A port given by number (1-65535) or by IANA name (upstream's ValidatePortNumOrName)."""
    if isinstance(value, int):
        return in_range(path, value, 1, 65535)
    if isinstance(value, str):
        return [invalid(path, value, e) for e in names.is_port_name(value)]
    return []


_HEADER = re.compile(r"^[-A-Za-z0-9]+$")
_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")


def _handler(handler: Obj, path: str, grace: int) -> list[FieldError]:
    """One LifecycleHandler: exactly one action (tcpSocket counts, though no kubelet runs it)."""
    errors: list[FieldError] = []
    given = [k for k in _HANDLERS if isinstance(handler.get(k), dict)]
    if not given:
        return [required(path, "must specify a handler type")]
    errors += [forbidden(f"{path}.{k}", "may not specify more than 1 handler type")
               for k in given[1:]]
    action = handler[given[0]]
    apath = f"{path}.{given[0]}"
    if given[0] == "exec" and not action.get("command"):
        errors.append(required(f"{apath}.command"))
    if given[0] in ("httpGet", "tcpSocket"):
        errors += validate_port_num_or_name(action.get("port"), f"{apath}.port")
    if given[0] == "httpGet":
        errors += check_enum(f"{apath}.scheme", action.get("scheme"), ("HTTP", "HTTPS"))
        errors += [invalid(f"{apath}.httpHeaders", h.get("name"),
                           "a valid HTTP header must consist of alphanumeric characters or "
                           "'-' (e.g. 'X-Header-Name', regex used for validation is "
                           "'[-A-Za-z0-9]+')")
                   for h in dicts(action.get("httpHeaders"))
                   if not _HEADER.match(str(h.get("name", "")))]
    seconds = action.get("seconds") if given[0] == "sleep" else None
    if isinstance(seconds, int) and not 0 < seconds <= grace:
        errors.append(invalid(apath, seconds, "must be greater than 0 and less than "
                                              f"terminationGracePeriodSeconds ({grace})"))
    return errors


def _lifecycle(c: Obj, path: str, grace: int, *, init: bool) -> list[FieldError]:
    lifecycle = c.get("lifecycle")
    if not isinstance(lifecycle, dict):
        return []
    if init:
        return [forbidden(f"{path}.lifecycle",
                          "may not be set for init containers without restartPolicy=Always")]
    return [e for hook in ("postStart", "preStop") if isinstance(lifecycle.get(hook), dict)
            for e in _handler(lifecycle[hook], f"{path}.lifecycle.{hook}", grace)]


def _container(c: Obj, path: str, volumes: set[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    name = c.get("name")
    if name:
        errors += [invalid(f"{path}.name", name, e) for e in names.is_dns1123_label(name)]
    if not c.get("image"):
        errors.append(required(f"{path}.image"))
    errors += check_enum(f"{path}.imagePullPolicy", c.get("imagePullPolicy"), _PULL)
    port_names: set[str] = set()
    for i, port in enumerate(dicts(c.get("ports"))):
        errors += validate_port(port, f"{path}.ports[{i}]", port_names)
    for i, env in enumerate(dicts(c.get("env"))):
        if not env.get("name"):
            errors.append(required(f"{path}.env[{i}].name"))
    errors += _resources(c.get("resources"), f"{path}.resources")
    mount_paths: set[str] = set()
    for i, mount in enumerate(dicts(c.get("volumeMounts"))):
        mpath = f"{path}.volumeMounts[{i}]"
        if mount.get("name") and mount["name"] not in volumes:
            errors.append(not_found(f"{mpath}.name", mount["name"]))
        if mount.get("mountPath") in mount_paths:
            errors.append(invalid(f"{mpath}.mountPath", mount["mountPath"], "must be unique"))
        mount_paths.add(mount.get("mountPath", ""))
    return errors


def validate_container(c: Obj, path: str, volumes: set[str]) -> list[FieldError]:
    """The rules every kind of container shares (name, image, ports, env, mounts)."""
    return _container(c, path, volumes)


def _resources(resources: Any, path: str) -> list[FieldError]:
    """Quantities are non-negative and requests do not exceed limits."""
    if not isinstance(resources, dict):
        return []
    errors: list[FieldError] = []
    parsed: dict[str, dict[str, Fraction]] = {}
    for part in ("limits", "requests"):
        for name, value in (resources.get(part) or {}).items():
            try:
                amount = parse_quantity(value)
            except (ValueError, TypeError):
                continue  # the schema walk reports malformed quantities
            if amount < 0:
                errors.append(invalid(f"{path}.{part}[{name}]", value,
                                      "must be greater than or equal to 0"))
            parsed.setdefault(part, {})[name] = amount
    for name, request in parsed.get("requests", {}).items():
        limit = parsed.get("limits", {}).get(name)
        if limit is not None and request > limit:
            errors.append(invalid(f"{path}.requests", resources["requests"][name],
                                  f"must be less than or equal to {name} limit of "
                                  f"{resources['limits'][name]}"))
    return errors


def _volumes(spec: Obj, path: str) -> tuple[list[FieldError], set[str]]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, vol in enumerate(dicts(spec.get("volumes"))):
        vpath = f"{path}.volumes[{i}]"
        name = vol.get("name")
        if name:
            errors += [invalid(f"{vpath}.name", name, e) for e in names.is_dns1123_label(name)]
            if name in seen:
                errors.append(duplicate(f"{vpath}.name", name))
            seen.add(name)
        sources = [k for k, v in vol.items() if k != "name" and v is not None]
        if not sources:
            errors.append(required(vpath, "must specify a volume type"))
        elif len(sources) > 1:
            errors.append(forbidden(f"{vpath}.{sources[1]}",
                                    "may not specify more than 1 volume type"))
    return errors, seen


def validate_pod_spec(spec: Obj, path: str, *, claims: frozenset[str] = frozenset()
                      ) -> list[FieldError]:
    """Rules of a PodSpec at ``path`` (``spec`` or ``spec.template.spec``). ``claims``: names
    a StatefulSet's ``volumeClaimTemplates`` add as volumes (mounts may refer to them)."""
    errors, volumes = _volumes(spec, path)
    volumes |= claims
    containers = dicts(spec.get("containers"))
    grace = spec.get("terminationGracePeriodSeconds")
    grace = grace if isinstance(grace, int) else 30
    if not containers:
        errors.append(required(f"{path}.containers"))
    seen: set[str] = set()
    for field in ("initContainers", "containers"):
        for i, c in enumerate(dicts(spec.get(field))):
            cpath = f"{path}.{field}[{i}]"
            errors += _container(c, cpath, volumes)
            errors += _lifecycle(c, cpath, grace, init=field == "initContainers")
            if c.get("name") in seen:
                errors.append(duplicate(f"{cpath}.name", c["name"]))
            seen.add(c.get("name", ""))
    errors += check_enum(f"{path}.restartPolicy", spec.get("restartPolicy"), _RESTART)
    errors += check_enum(f"{path}.dnsPolicy", spec.get("dnsPolicy"), _DNS)
    errors += in_range(f"{path}.terminationGracePeriodSeconds",
                       spec.get("terminationGracePeriodSeconds"), 0)
    errors += in_range(f"{path}.activeDeadlineSeconds", spec.get("activeDeadlineSeconds"), 1)
    for i, tol in enumerate(dicts(spec.get("tolerations"))):
        errors += check_enum(f"{path}.tolerations[{i}].operator", tol.get("operator"),
                             ("Equal", "Exists"))
        errors += check_enum(f"{path}.tolerations[{i}].effect", tol.get("effect") or None,
                             ("NoExecute", "NoSchedule", "PreferNoSchedule"))
    return errors


_MUTABLE_POD_FIELDS = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds",
                       "schedulingGates")


def _comparable_pod_spec(spec: Obj) -> Obj:
    out = copy.deepcopy(spec)
    for key in _MUTABLE_POD_FIELDS:
        out.pop(key, None)
    for field in ("containers", "initContainers"):
        for c in dicts(out.get(field)):
            c.pop("image", None)
    return out


def validate_pod(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors = validate_pod_spec(spec, "spec")
    if old is None and spec.get("ephemeralContainers"):
        errors.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if old is not None:
        old_spec = copy.deepcopy(old.get("spec") or {})
        if not old_spec.get("nodeName") and spec.get("nodeName"):
            old_spec["nodeName"] = spec["nodeName"]  # binding sets it once
        if _comparable_pod_spec(old_spec) != _comparable_pod_spec(spec):
            errors.append(forbidden(
                "spec", "pod updates may not change fields other than "
                "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
                "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if "
                "it was previously negative)"))
    return errors


# ------------------------------------------------------------------------------ workloads


def validate_selector_and_template(
    spec: Obj, *, restart: tuple[str, ...] = ("Always",), need_selector: bool = True,
    kind: str = "deployment", claims: frozenset[str] = frozenset(),
) -> list[FieldError]:
    """``spec.selector`` present, non-empty and matching ``spec.template.metadata.labels``;
    the template's pod spec valid with a restart policy in ``restart``."""
    errors: list[FieldError] = []
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    selector = spec.get("selector")
    if selector is None and need_selector:
        errors.append(required("spec.selector"))
    elif selector is not None:
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            errors.append(invalid("spec.selector", selector, f"empty selector is invalid for "
                                                             f"{kind}"))
        try:
            matches = label_selector_from_dict(selector).matches(labels)
        except SelectorError as exc:
            errors.append(invalid("spec.selector", selector, exc.message))
        else:
            if not matches:
                errors.append(invalid("spec.template.metadata.labels", labels,
                                      "`selector` does not match template `labels`"))
    if not spec.get("template"):
        errors.append(required("spec.template"))
        return errors
    pod_spec = template.get("spec") or {}
    errors += validate_pod_spec(pod_spec, "spec.template.spec", claims=claims)
    policy = pod_spec.get("restartPolicy")
    if policy is not None and policy not in restart:
        errors.append(not_supported("spec.template.spec.restartPolicy", policy, restart))
    return errors


def _immutable(spec: Obj, old: Obj | None, *fields: str) -> list[FieldError]:
    if old is None:
        return []
    old_spec = old.get("spec") or {}
    return [immutable(f"spec.{f}", spec.get(f)) for f in fields if spec.get(f) != old_spec.get(f)]


def validate_deployment(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors = validate_selector_and_template(spec)
    errors += in_range("spec.replicas", spec.get("replicas"), 0)
    errors += in_range("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"), 0)
    errors += in_range("spec.minReadySeconds", spec.get("minReadySeconds"), 0)
    strategy = spec.get("strategy") or {}
    errors += check_enum("spec.strategy.type", strategy.get("type"), ("Recreate", "RollingUpdate"))
    rolling = strategy.get("rollingUpdate")
    if strategy.get("type") == "Recreate" and rolling is not None:
        errors.append(forbidden("spec.strategy.rollingUpdate",
                                "may not be specified when strategy `type` is 'Recreate'"))
    elif isinstance(rolling, dict) and _zero(rolling.get("maxSurge")) and _zero(
            rolling.get("maxUnavailable")):
        errors.append(invalid("spec.strategy.rollingUpdate.maxUnavailable",
                              rolling.get("maxUnavailable"),
                              "may not be 0 when `maxSurge` is 0"))
    deadline, ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds", 0)
    if isinstance(deadline, int) and isinstance(ready, int) and deadline <= ready:
        errors.append(invalid("spec.progressDeadlineSeconds", deadline,
                              "must be greater than minReadySeconds"))
    return errors + _immutable(spec, old, "selector")


def _zero(value: Any) -> bool:
    return value in (0, "0", "0%")


def validate_replicaset(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors = validate_selector_and_template(spec, kind="replicaset")
    errors += in_range("spec.replicas", spec.get("replicas"), 0)
    return errors + _immutable(spec, old, "selector")


def validate_statefulset(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    claims = frozenset(str((t.get("metadata") or {}).get("name", ""))
                       for t in dicts(spec.get("volumeClaimTemplates")))
    errors = validate_selector_and_template(spec, kind="statefulset", claims=claims)
    errors += in_range("spec.replicas", spec.get("replicas"), 0)
    if not spec.get("serviceName"):
        errors.append(required("spec.serviceName"))
    errors += check_enum("spec.podManagementPolicy", spec.get("podManagementPolicy"),
                         ("OrderedReady", "Parallel"))
    errors += check_enum("spec.updateStrategy.type", (spec.get("updateStrategy") or {}).get("type"),
                         ("OnDelete", "RollingUpdate"))
    if old is not None:
        mutable = ("replicas", "ordinals", "template", "updateStrategy",
                   "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
        fixed = {k: v for k, v in spec.items() if k not in mutable}
        old_fixed = {k: v for k, v in (old.get("spec") or {}).items() if k not in mutable}
        if fixed != old_fixed:
            errors.append(forbidden(
                "spec", "updates to statefulset spec for fields other than 'replicas', "
                "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' "
                "and 'minReadySeconds' are forbidden"))
    return errors


def validate_daemonset(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors = validate_selector_and_template(spec, kind="daemonset")
    errors += check_enum("spec.updateStrategy.type", (spec.get("updateStrategy") or {}).get("type"),
                         ("OnDelete", "RollingUpdate"))
    return errors + _immutable(spec, old, "selector")


def validate_job(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors = validate_selector_and_template(spec, restart=("OnFailure", "Never"),
                                            need_selector=False, kind="job")
    for field in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds"):
        errors += in_range(f"spec.{field}", spec.get(field), 0)
    errors += check_enum("spec.completionMode", spec.get("completionMode"),
                         ("Indexed", "NonIndexed"))
    if spec.get("completionMode") == "Indexed" and spec.get("completions") is None:
        errors.append(required("spec.completions", "when completion mode is Indexed"))
    if old is None:
        return errors
    errors += _immutable(spec, old, "selector", "completionMode")
    old_spec = old.get("spec") or {}
    if spec.get("completionMode") != "Indexed":
        errors += _immutable(spec, old, "completions")
    if not old_spec.get("suspend"):
        errors += _immutable(spec, old, "template")
    return errors
