"""Semantic validation of pods, pod templates and the workloads that own templates.

Messages and paths follow upstream (``spec.template.spec.containers[0].image: Required
value``; ``selector` does not match template `labels```), since kubectl prints them verbatim.
Each rule is ``rule(obj, old) -> list[FieldError]`` with ``old`` set on updates.
"""

from __future__ import annotations

import copy
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
    not_supported,
    required,
)
from kboot.controlplane.api.selectors import SelectorError, label_selector_from_dict
from kboot.controlplane.api.validation_containers import (
    dicts,
    host_port_conflicts,
    validate_container,
)
from kboot.controlplane.api.validation_probes import validate_probes_and_hooks

Obj = dict[str, Any]

_RESTART = ("Always", "OnFailure", "Never")
_DNS = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")


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


def _containers(spec: Obj, path: str, volumes: set[str], grace: int) -> list[FieldError]:
    """``containers``: at least one, unique names, probes and hooks, no ``restartPolicy``,
    no host port taken twice (with ``hostNetwork``, a host port is the container port)."""
    containers = dicts(spec.get("containers"))
    if not containers:
        return [required(f"{path}.containers")]
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, c in enumerate(containers):
        cpath = f"{path}.containers[{i}]"
        errors += validate_container(c, cpath, volumes)
        if c.get("name") in seen:
            errors.append(duplicate(f"{cpath}.name", c["name"]))
        seen.add(c.get("name", ""))
        errors += validate_probes_and_hooks(c, cpath, grace, init=False)
        if c.get("restartPolicy") is not None:
            errors.append(forbidden(f"{cpath}.restartPolicy",
                                    "may not be set for non-init containers"))
    errors += host_port_conflicts(containers, f"{path}.containers")
    if spec.get("hostNetwork"):
        errors += [invalid(f"{path}.containers[{i}].ports[{j}].hostPort", p["hostPort"],
                           "must match `containerPort` when `hostNetwork` is true")
                   for i, c in enumerate(containers) for j, p in enumerate(dicts(c.get("ports")))
                   if p.get("hostPort") and p["hostPort"] != p.get("containerPort")]
    return errors


def _init_containers(spec: Obj, path: str, volumes: set[str], grace: int
                     ) -> list[FieldError]:
    """``initContainers``: names unique among all containers, ``restartPolicy`` only
    ``Always`` (a sidecar, which alone may have probes and hooks); they run one at a time, so
    only one container's own host ports can clash (upstream names them all ``[0]``)."""
    errors: list[FieldError] = []
    seen = {c.get("name") for c in dicts(spec.get("containers"))}
    for i, c in enumerate(dicts(spec.get("initContainers"))):
        cpath = f"{path}.initContainers[{i}]"
        errors += validate_container(c, cpath, volumes)
        errors += check_enum(f"{cpath}.restartPolicy", c.get("restartPolicy"), ("Always",))
        if c.get("name") in seen:
            errors.append(duplicate(f"{cpath}.name", c["name"]))
        elif c.get("name"):
            seen.add(c["name"])
        errors += host_port_conflicts([c], f"{path}.initContainers")
        errors += validate_probes_and_hooks(c, cpath, grace, init=True)
    return errors


def _dns_config(spec: Obj, path: str) -> list[FieldError]:
    """``dnsPolicy: None`` takes its resolver from ``dnsConfig`` alone."""
    config = spec.get("dnsConfig")
    if spec.get("dnsPolicy") != "None":
        return []
    if not isinstance(config, dict):
        return [required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
    if not config.get("nameservers"):
        return [required(f"{path}.nameservers", "must provide at least one DNS nameserver "
                                                "when `dnsPolicy` is None")]
    return []


def validate_pod_spec(spec: Obj, path: str, *, claims: frozenset[str] = frozenset()
                      ) -> list[FieldError]:
    """Rules of a PodSpec at ``path`` (``spec`` or ``spec.template.spec``). ``claims``: names
    a StatefulSet's ``volumeClaimTemplates`` add as volumes (mounts may refer to them)."""
    errors, volumes = _volumes(spec, path)
    volumes |= claims
    grace = spec.get("terminationGracePeriodSeconds")
    grace = grace if isinstance(grace, int) else 30
    errors += _containers(spec, path, volumes, grace)
    errors += _init_containers(spec, path, volumes, grace)
    errors += check_enum(f"{path}.restartPolicy", spec.get("restartPolicy"), _RESTART)
    errors += check_enum(f"{path}.dnsPolicy", spec.get("dnsPolicy"), _DNS)
    errors += _dns_config(spec, f"{path}.dnsConfig")
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
