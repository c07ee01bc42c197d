"""The rules every kind of container shares (upstream's ``validateContainerCommon``): name,
image, ports, ``env``/``envFrom``, volume mounts, pull and termination-message policies and
resources.

Regular, init and ephemeral containers all pass here; what differs between them (probes and
lifecycle hooks, ``restartPolicy``, name uniqueness, host port conflicts) is decided by the
container lists in :mod:`.validation_pods` and :mod:`.validation_probes`.  Paths and messages
are upstream's, quirks included (``envFrom`` source errors name the list, not the item; a
``subPath`` error names ``volumeMounts.subPath`` without the index), since kubectl prints them.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from kboot.controlplane.api import names
from kboot.controlplane.api.field_errors import (
    FieldError,
    check_enum,
    duplicate,
    in_range,
    invalid,
    not_found,
    not_supported,
    required,
)
from kboot.controlplane.api.quantities import parse_quantity

Obj = dict[str, Any]

PROTOCOLS = ("SCTP", "TCP", "UDP")
_PULL = ("Always", "IfNotPresent", "Never")
_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")


def dicts(value: Any) -> list[Obj]:
    """The mapping items of a list field (anything else: none)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# ----------------------------------------------------------------------------------- ports


def validate_port_num_or_name(value: Any, path: str) -> list[FieldError]:
    """A port given by number (1-65535) or by IANA name (upstream's ValidatePortNumOrName)."""
    if isinstance(value, int):
        return in_range(path, value, 1, 65535)
    if isinstance(value, str):
        return [invalid(path, value, e) for e in names.is_port_name(value)]
    return []


def validate_port(port: Obj, path: str, seen_names: set[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    name = port.get("name")
    if name:
        problems = names.is_port_name(name)
        errors += [invalid(f"{path}.name", name, e) for e in problems]
        if not problems and name in seen_names:
            errors.append(duplicate(f"{path}.name", name))
        seen_names.add(name)
    if port.get("containerPort") == 0:
        errors.append(required(f"{path}.containerPort"))
    else:
        errors += in_range(f"{path}.containerPort", port.get("containerPort"), 1, 65535)
    if port.get("hostPort"):
        errors += in_range(f"{path}.hostPort", port["hostPort"], 1, 65535)
    errors += check_enum(f"{path}.protocol", port.get("protocol"), PROTOCOLS)
    return errors


def host_port_conflicts(containers: list[Obj], path: str) -> list[FieldError]:
    """Two ports of ``containers`` (at ``path``, a list) may not take the same host port."""
    errors: list[FieldError] = []
    taken: set[str] = set()
    for ci, c in enumerate(containers):
        for pi, port in enumerate(dicts(c.get("ports"))):
            if not port.get("hostPort"):
                continue
            key = f"{port.get('protocol', '')}/{port.get('hostIP', '')}/{port['hostPort']}"
            if key in taken:
                errors.append(duplicate(f"{path}[{ci}].ports[{pi}].hostPort", key))
            taken.add(key)
    return errors


# ------------------------------------------------------------------------------------- env

_ENV_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                    "spec.serviceAccountName", "status.hostIP", "status.hostIPs",
                    "status.podIP", "status.podIPs")
# what upstream's ConvertDownwardAPIFieldLabel knows (env allows only _ENV_FIELD_PATHS of it)
_CONVERTIBLE = (*_ENV_FIELD_PATHS, "metadata.annotations", "metadata.labels",
                "spec.restartPolicy", "spec.schedulerName", "status.phase")
_RESOURCE_FIELDS = ("limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu",
                    "requests.ephemeral-storage", "requests.memory")
_HUGEPAGES = ("requests.hugepages-", "limits.hugepages-")
_CPU_DIVISORS = {Fraction(1, 1000), Fraction(1)}
_BYTE_DIVISORS = {Fraction(1)} | {Fraction(1000 ** i) for i in range(1, 7)} | {
    Fraction(1024 ** i) for i in range(1, 7)}
_BYTE_DIVISOR_TEXT = "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei"


def _split_subscript(field_path: str) -> tuple[str, str] | None:
    """``metadata.labels['app']`` -> (``metadata.labels``, ``app``); None without subscript."""
    if not field_path.endswith("']"):
        return None
    base, sep, key = field_path[:-2].partition("['")
    return (base, key) if sep and base else None


def _conversion_error(version: str, field_path: str) -> str:
    if version != "v1":
        return f"unsupported pod version: {version}"
    split = _split_subscript(field_path)
    if split is not None:
        if split[0] in ("metadata.annotations", "metadata.labels"):
            return ""
        return f"field label does not support subscript: {field_path}"
    if field_path in _CONVERTIBLE or field_path == "spec.host":
        return ""
    return f"field label not supported: {field_path}"


def _field_ref(ref: Obj, path: str) -> list[FieldError]:
    version, field_path = ref.get("apiVersion"), ref.get("fieldPath")
    if not version:
        return [required(f"{path}.apiVersion")]
    if not field_path:
        return [required(f"{path}.fieldPath")]
    problem = _conversion_error(str(version), str(field_path))
    if problem:
        return [invalid(f"{path}.fieldPath", field_path, f"error converting fieldPath: {problem}")]
    split = _split_subscript(field_path)
    if split is not None:
        key = split[1].lower() if split[0] == "metadata.annotations" else split[1]
        return [invalid(path, key, e) for e in names.is_qualified_name(key)]
    internal = "spec.nodeName" if field_path == "spec.host" else field_path
    if internal not in _ENV_FIELD_PATHS:
        return [not_supported(f"{path}.fieldPath", internal, sorted(_ENV_FIELD_PATHS))]
    return []


def _divisor_errors(resource: str, divisor: Any, path: str) -> list[FieldError]:
    try:
        amount = parse_quantity(divisor) if divisor is not None else Fraction(0)
    except (ValueError, TypeError):
        return []  # the schema walk reports malformed quantities
    if amount == 0:
        return []
    if resource in ("limits.cpu", "requests.cpu") and amount not in _CPU_DIVISORS:
        return [invalid(f"{path}.divisor", resource, "only divisor's values 1m and 1 are "
                                                     "supported with the cpu resource")]
    kinds = {"limits.memory": "memory", "requests.memory": "memory",
             "limits.ephemeral-storage": "local ephemeral storage",
             "requests.ephemeral-storage": "local ephemeral storage"}
    kind = "hugepages" if resource.startswith(_HUGEPAGES) else kinds.get(resource)
    if kind and amount not in _BYTE_DIVISORS:
        return [invalid(f"{path}.divisor", resource, f"only divisor's values "
                                                     f"{_BYTE_DIVISOR_TEXT} are supported "
                                                     f"with the {kind} resource")]
    return []


def _resource_field_ref(ref: Obj, path: str) -> list[FieldError]:
    resource = str(ref.get("resource") or "")
    errors: list[FieldError] = []
    if not resource:
        errors.append(required(f"{path}.resource"))
    elif resource not in _RESOURCE_FIELDS and not resource.startswith(_HUGEPAGES):
        errors.append(not_supported(f"{path}.resource", resource, _RESOURCE_FIELDS))
    return errors + _divisor_errors(resource, ref.get("divisor"), path)


def _key_ref(ref: Obj, path: str) -> list[FieldError]:
    """``configMapKeyRef``/``secretKeyRef``: a DNS subdomain name (even when empty) and a key."""
    name = str(ref.get("name") or "")
    errors = [invalid(f"{path}.name", name, e) for e in names.is_dns1123_subdomain(name)]
    key = ref.get("key")
    if not key:
        errors.append(required(f"{path}.key"))
    else:
        errors += [invalid(f"{path}.key", key, e) for e in names.is_config_key(str(key))]
    return errors


_ENV_SOURCES: dict[str, Callable[[Obj, str], list[FieldError]]] = {
    "fieldRef": _field_ref, "resourceFieldRef": _resource_field_ref,
    "configMapKeyRef": _key_ref, "secretKeyRef": _key_ref}


def _value_from(env: Obj, path: str) -> list[FieldError]:
    source = env.get("valueFrom")
    if not isinstance(source, dict):
        return []
    given = [k for k in _ENV_SOURCES if isinstance(source.get(k), dict)]
    errors = [e for k in given for e in _ENV_SOURCES[k](source[k], f"{path}.{k}")]
    if not given:
        errors.append(invalid(path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                        "`configMapKeyRef` or `secretKeyRef`"))
    elif env.get("value"):
        errors.append(invalid(path, "", "may not be specified when `value` is not empty"))
    elif len(given) > 1:
        errors.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errors


def validate_env(env: list[Obj], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for i, var in enumerate(env):
        name = var.get("name")
        if not name:
            errors.append(required(f"{path}[{i}].name"))
        else:
            errors += [invalid(f"{path}[{i}].name", name, e)
                       for e in names.is_env_var_name(str(name))]
        errors += _value_from(var, f"{path}[{i}].valueFrom")
    return errors


def _prefix_name_errors(name: str) -> list[str]:
    """Upstream's ``NameIsDNSSubdomain(name, prefix=true)``: a trailing ``-`` is allowed."""
    masked = name[:-1] + "a" if len(name) > 1 and name.endswith("-") else name
    return names.is_dns1123_subdomain(masked)


def validate_env_from(sources: list[Obj], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for i, source in enumerate(sources):
        prefix = source.get("prefix")
        if prefix:
            errors += [invalid(f"{path}[{i}].prefix", prefix, e)
                       for e in names.is_env_var_name(str(prefix))]
        given = [k for k in ("configMapRef", "secretRef") if isinstance(source.get(k), dict)]
        for k in given:
            name = str(source[k].get("name") or "")
            if not name:
                errors.append(required(f"{path}[{i}].{k}.name"))
            else:
                errors += [invalid(f"{path}[{i}].{k}.name", name, e)
                           for e in _prefix_name_errors(name)]
        if not given:
            errors.append(invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif len(given) > 1:
            errors.append(invalid(path, "", "may not have more than one field specified at a "
                                            "time"))
    return errors


# ----------------------------------------------------------------------- mounts, resources


def _descending_path(value: str, path: str) -> list[FieldError]:
    """Upstream's ``validateLocalDescendingPath``: relative, without a ``..`` element."""
    errors = [invalid(path, value, "must be a relative path")] if value.startswith("/") else []
    if ".." in value.split("/"):
        errors.append(invalid(path, value, "must not contain '..'"))
    return errors


def validate_mounts(mounts: list[Obj], path: str, volumes: set[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    mount_paths: set[str] = set()
    for i, mount in enumerate(mounts):
        mpath = f"{path}[{i}]"
        name, mount_path = mount.get("name") or "", mount.get("mountPath") or ""
        if not name:
            errors.append(required(f"{mpath}.name"))
        if name not in volumes:
            errors.append(not_found(f"{mpath}.name", name))
        if not mount_path:
            errors.append(required(f"{mpath}.mountPath"))
        if mount_path in mount_paths:
            errors.append(invalid(f"{mpath}.mountPath", mount_path, "must be unique"))
        mount_paths.add(mount_path)
        sub, expr = mount.get("subPath") or "", mount.get("subPathExpr") or ""
        if sub:
            errors += _descending_path(sub, f"{path}.subPath")
        if expr and sub:
            errors.append(invalid(f"{mpath}.subPathExpr", expr,
                                  "subPathExpr and subPath are mutually exclusive"))
        if expr:
            errors += _descending_path(expr, f"{path}.subPathExpr")
    return errors


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


def validate_container(c: Obj, path: str, volumes: set[str]) -> list[FieldError]:
    """The rules every kind of container shares (name, image, ports, env, mounts)."""
    errors: list[FieldError] = []
    name = c.get("name")
    if not name:
        errors.append(required(f"{path}.name"))
    else:
        errors += [invalid(f"{path}.name", name, e) for e in names.is_dns1123_label(name)]
    if not c.get("image"):
        errors.append(required(f"{path}.image"))
    errors += check_enum(f"{path}.terminationMessagePolicy", c.get("terminationMessagePolicy"),
                         _MESSAGE_POLICIES)
    port_names: set[str] = set()
    for i, port in enumerate(dicts(c.get("ports"))):
        errors += validate_port(port, f"{path}.ports[{i}]", port_names)
    errors += validate_env(dicts(c.get("env")), f"{path}.env")
    errors += validate_env_from(dicts(c.get("envFrom")), f"{path}.envFrom")
    errors += validate_mounts(dicts(c.get("volumeMounts")), f"{path}.volumeMounts", volumes)
    errors += check_enum(f"{path}.imagePullPolicy", c.get("imagePullPolicy"), _PULL)
    return errors + _resources(c.get("resources"), f"{path}.resources")
