"""Semantic validation of the non-workload kinds (services, config, storage, networking, RBAC),
and :data:`KIND_RULES`, the table :func:`~kboot.controlplane.api.validation.validate` reads.

Each rule is ``rule(obj, old) -> list[FieldError]``; ``old`` is set on updates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kboot.controlplane.api import names, storageclasses
from kboot.controlplane.api.certificates import validate_csr
from kboot.controlplane.api.cronjobs import validate_cronjob
from kboot.controlplane.api.disruption import validate_pdb
from kboot.controlplane.api.events import validate_event
from kboot.controlplane.api.field_errors import (
    FieldError,
    check_enum,
    duplicate,
    forbidden,
    immutable,
    in_range,
    invalid,
    required,
)
from kboot.controlplane.api.networkpolicy import validate_network_policy
from kboot.controlplane.api.priorities import validate_priority_class
from kboot.controlplane.api.replicationcontrollers import validate_replication_controller
from kboot.controlplane.api.servicetraffic import validate_traffic
from kboot.controlplane.api.validation_autoscaling import validate_apiservice, validate_hpa
from kboot.controlplane.api.validation_containers import (
    PROTOCOLS,
    dicts,
    validate_port_num_or_name,
)
from kboot.controlplane.api.validation_pods import (
    validate_daemonset,
    validate_deployment,
    validate_job,
    validate_pod,
    validate_replicaset,
    validate_statefulset,
)
from kboot.controlplane.api.webhookconfigs import validate_configuration

Obj = dict[str, Any]
Rule = Callable[[Obj, "Obj | None"], list[FieldError]]

_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
_RBAC_GROUP = "rbac.authorization.k8s.io"


def _service_port(port: Obj, path: str, *, many: bool, node_ports: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    if many and not port.get("name"):
        errors.append(required(f"{path}.name"))
    elif port.get("name"):
        errors += [invalid(f"{path}.name", port["name"], e)
                   for e in names.is_dns1123_label(port["name"])]
    errors += in_range(f"{path}.port", port.get("port"), 1, 65535)
    errors += check_enum(f"{path}.protocol", port.get("protocol"), PROTOCOLS)
    errors += validate_port_num_or_name(port.get("targetPort"), f"{path}.targetPort")
    if port.get("nodePort"):
        if not node_ports:
            errors.append(forbidden(f"{path}.nodePort", "may not be used when `type` is "
                                                         "'ClusterIP'"))
        errors += in_range(f"{path}.nodePort", port["nodePort"], 1, 65535)
    return errors


def validate_service(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    errors = check_enum("spec.type", spec.get("type"), _SERVICE_TYPES)
    ports = dicts(spec.get("ports"))
    headless = spec.get("clusterIP") == "None"
    if kind == "ExternalName":
        if not spec.get("externalName"):
            errors.append(required("spec.externalName"))
    elif not ports and not headless:
        errors.append(required("spec.ports"))
    seen: set[Any] = set()
    for i, port in enumerate(ports):
        errors += _service_port(port, f"spec.ports[{i}]", many=len(ports) > 1,
                                node_ports=kind in ("NodePort", "LoadBalancer"))
        if port.get("name") and port["name"] in seen:
            errors.append(duplicate(f"spec.ports[{i}].name", port["name"]))
        seen.add(port.get("name"))
    errors += check_enum("spec.sessionAffinity", spec.get("sessionAffinity"), ("ClientIP", "None"))
    errors += validate_traffic(spec, None if old is None else old.get("spec") or {})
    for key, value in (spec.get("selector") or {}).items():
        errors += [invalid("spec.selector", key, e) for e in names.is_qualified_name(key)]
        errors += [invalid(f"spec.selector[{key}]", value, e) for e in names.is_label_value(value)]
    if old is not None and kind != "ExternalName":
        old_ip = (old.get("spec") or {}).get("clusterIP")
        if old_ip and spec.get("clusterIP") != old_ip:
            errors.append(immutable("spec.clusterIP", spec.get("clusterIP")))
    return errors


def _data_keys(obj: Obj, fields: tuple[str, ...]) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for field in fields:
        for key in obj.get(field) or {}:
            errors += [invalid(f"{field}[{key}]", key, e) for e in names.is_config_key(key)]
            if key in seen:
                errors.append(invalid(f"{field}[{key}]", key, "duplicate of key present in "
                                                               "another data field"))
            seen.add(key)
    return errors


def _immutable_data(obj: Obj, old: Obj | None, fields: tuple[str, ...]) -> list[FieldError]:
    if old is None or not old.get("immutable"):
        return []
    errors = [forbidden(f, "field is immutable when `immutable` is set")
              for f in fields if obj.get(f) != old.get(f)]
    if not obj.get("immutable"):
        errors.append(forbidden("immutable", "field is immutable when `immutable` is set"))
    return errors


def validate_configmap(obj: Obj, old: Obj | None) -> list[FieldError]:
    fields = ("data", "binaryData")
    return _data_keys(obj, fields) + _immutable_data(obj, old, fields)


_SECRET_KEYS = {"kubernetes.io/tls": ("tls.crt", "tls.key"),
                "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
                "kubernetes.io/dockercfg": (".dockercfg",)}


def validate_secret(obj: Obj, old: Obj | None) -> list[FieldError]:
    errors = _data_keys(obj, ("data", "stringData"))
    present = set(obj.get("data") or {}) | set(obj.get("stringData") or {})
    for key in _SECRET_KEYS.get(obj.get("type", ""), ()):
        if key not in present:
            errors.append(required(f"data[{key}]"))
    if old is not None and old.get("type") != obj.get("type"):
        errors.append(immutable("type", obj.get("type")))
    return errors + _immutable_data(obj, old, ("data", "stringData"))


def validate_pvc(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    modes = spec.get("accessModes") or []
    if not modes:
        errors.append(required("spec.accessModes"))
    for i, mode in enumerate(modes):
        errors += check_enum(f"spec.accessModes[{i}]", mode, _ACCESS_MODES)
    if not ((spec.get("resources") or {}).get("requests") or {}).get("storage"):
        errors.append(required("spec.resources[storage]"))
    return errors


def validate_pv(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    if not (spec.get("capacity") or {}).get("storage"):
        errors.append(required("spec.capacity[storage]"))
    for i, mode in enumerate(spec.get("accessModes") or []):
        errors += check_enum(f"spec.accessModes[{i}]", mode, _ACCESS_MODES)
    errors += check_enum("spec.persistentVolumeReclaimPolicy",
                         spec.get("persistentVolumeReclaimPolicy"), ("Delete", "Recycle", "Retain"))
    return errors


def _backend(backend: Obj, path: str) -> list[FieldError]:
    service, resource = backend.get("service"), backend.get("resource")
    if service and resource:
        return [invalid(path, backend, "cannot set both service and resource backends")]
    if not service and not resource:
        return [invalid(path, backend, "must specify a service or a resource backend")]
    if not service:
        return []
    port = service.get("port") or {}
    if bool(port.get("number")) == bool(port.get("name")):
        return [required(f"{path}.service.port", "must specify exactly one of name or number")]
    return in_range(f"{path}.service.port.number", port.get("number"), 1, 65535)


def validate_ingress(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    if spec.get("defaultBackend"):
        errors += _backend(spec["defaultBackend"], "spec.defaultBackend")
    elif not spec.get("rules"):
        errors.append(invalid("spec", spec, "either `defaultBackend` or `rules` must be specified"))
    for i, rule in enumerate(dicts(spec.get("rules"))):
        host = rule.get("host")
        if host:
            errors += [invalid(f"spec.rules[{i}].host", host, e)
                       for e in names.ingress_host_errors(host)]
        for j, path in enumerate(dicts((rule.get("http") or {}).get("paths"))):
            where = f"spec.rules[{i}].http.paths[{j}]"
            kind = path.get("pathType")
            errors += check_enum(f"{where}.pathType", kind,
                                 ("Exact", "ImplementationSpecific", "Prefix"))
            if kind in ("Exact", "Prefix") and not str(path.get("path", "")).startswith("/"):
                errors.append(invalid(f"{where}.path", path.get("path"),
                                      "must be an absolute path"))
            errors += _backend(path.get("backend") or {}, f"{where}.backend")
    return errors


def validate_ingress_class(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    if old is not None and spec.get("controller") != (old.get("spec") or {}).get("controller"):
        return [immutable("spec.controller", spec.get("controller"))]
    return []


def _rules(obj: Obj, *, cluster: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    for i, rule in enumerate(dicts(obj.get("rules"))):
        if not rule.get("verbs"):
            errors.append(required(f"rules[{i}].verbs", "verbs must contain at least one value"))
        if rule.get("nonResourceURLs"):
            if not cluster:
                errors.append(invalid(f"rules[{i}].nonResourceURLs", rule["nonResourceURLs"],
                                      "namespaced rules cannot apply to non-resource URLs"))
            continue
        for key in ("apiGroups", "resources"):
            if rule.get(key) is None or rule.get(key) == []:
                errors.append(required(f"rules[{i}].{key}", f"resource rules must supply at "
                                                             f"least one {key[:-1]}"))
    return errors


def _binding(obj: Obj, old: Obj | None, *, kinds: tuple[str, ...]) -> list[FieldError]:
    ref = obj.get("roleRef") or {}
    errors = check_enum("roleRef.kind", ref.get("kind"), kinds)
    if ref.get("apiGroup") != _RBAC_GROUP:
        errors += check_enum("roleRef.apiGroup", ref.get("apiGroup") or "", (_RBAC_GROUP,))
    if not ref.get("name"):
        errors.append(required("roleRef.name"))
    for i, subject in enumerate(dicts(obj.get("subjects"))):
        errors += check_enum(f"subjects[{i}].kind", subject.get("kind"),
                             ("Group", "ServiceAccount", "User"))
        if not subject.get("name"):
            errors.append(required(f"subjects[{i}].name"))
        if (subject.get("kind") == "ServiceAccount" and not subject.get("namespace")
                and kinds == ("ClusterRole",)):
            errors.append(required(f"subjects[{i}].namespace"))
    if old is not None and (old.get("roleRef") or {}) != ref:
        errors.append(invalid("roleRef", ref, "cannot change roleRef"))
    return errors


def validate_endpoint_slice(obj: Obj, old: Obj | None) -> list[FieldError]:
    errors = check_enum("addressType", obj.get("addressType"), ("FQDN", "IPv4", "IPv6"))
    if not obj.get("addressType"):
        errors.append(required("addressType"))
    for i, endpoint in enumerate(dicts(obj.get("endpoints"))):
        if not endpoint.get("addresses"):
            errors.append(required(f"endpoints[{i}].addresses"))
    return errors + ([immutable("addressType", obj.get("addressType"))]
                     if old is not None and old.get("addressType") != obj.get("addressType")
                     else [])


def validate_node(obj: Obj, old: Obj | None) -> list[FieldError]:
    errors: list[FieldError] = []
    for i, taint in enumerate(dicts((obj.get("spec") or {}).get("taints"))):
        if not taint.get("key"):
            errors.append(required(f"spec.taints[{i}].key"))
        errors += check_enum(f"spec.taints[{i}].effect", taint.get("effect"),
                             ("NoExecute", "NoSchedule", "PreferNoSchedule"))
    old_spec, spec = (old or {}).get("spec") or {}, obj.get("spec") or {}
    for field in ("podCIDR", "podCIDRs"):  # a node's pods already have addresses in it
        if old_spec.get(field) and spec.get(field) != old_spec[field]:
            errors.append(forbidden(f"spec.{field}", 'node updates may not change podCIDR '
                                                     'except from "" to valid'))
    return errors


def validate_lease(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    return in_range("spec.leaseDurationSeconds", spec.get("leaseDurationSeconds"), 1)


KIND_RULES: dict[str, Rule] = {
    "Pod": validate_pod,
    "Deployment": validate_deployment,
    "ReplicaSet": validate_replicaset,
    "ReplicationController": validate_replication_controller,
    "StatefulSet": validate_statefulset,
    "DaemonSet": validate_daemonset,
    "Job": validate_job,
    "CronJob": validate_cronjob,
    "Event": validate_event,
    "PriorityClass": validate_priority_class,
    "Service": validate_service,
    "ConfigMap": validate_configmap,
    "Secret": validate_secret,
    "PersistentVolumeClaim": validate_pvc,
    "PersistentVolume": validate_pv,
    "Ingress": validate_ingress,
    "IngressClass": validate_ingress_class,
    "NetworkPolicy": validate_network_policy,
    "Role": lambda obj, old: _rules(obj, cluster=False),
    "ClusterRole": lambda obj, old: _rules(obj, cluster=True),
    "RoleBinding": lambda obj, old: _binding(obj, old, kinds=("ClusterRole", "Role")),
    "ClusterRoleBinding": lambda obj, old: _binding(obj, old, kinds=("ClusterRole",)),
    "EndpointSlice": validate_endpoint_slice,
    "Node": validate_node,
    "PodDisruptionBudget": validate_pdb,
    "Lease": validate_lease,
    "CertificateSigningRequest": validate_csr,
    "ValidatingWebhookConfiguration": validate_configuration,
    "MutatingWebhookConfiguration": validate_configuration,
    "APIService": validate_apiservice,
    "HorizontalPodAutoscaler": validate_hpa,
    "StorageClass": storageclasses.validate_storage_class,
    "CSIDriver": storageclasses.validate_csi_driver,
    "CSINode": storageclasses.validate_csi_node,
}
