"""Defaulting: the upstream default values kubectl users (and our controllers) rely on.

:func:`apply_defaults` returns a defaulted copy; it is idempotent and runs on every create and
update (as upstream defaulting runs on every decode), before validation.  Pod templates inside
workloads are defaulted like pods.  One server-side rule needs the object's ``metadata.uid``:
a Job without ``manualSelector`` gets its generated ``controller-uid`` selector and template
labels, so the apiserver assigns ``uid`` before calling this on create.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from typing import Any

from kboot.controlplane.api import priorities, storageclasses, typed
from kboot.controlplane.api.networkpolicy import default_network_policy
from kboot.controlplane.api.replicationcontrollers import rc_defaults
from kboot.controlplane.api.schemas import KindRef, resolve_kind
from kboot.controlplane.api.webhookconfigs import default_configuration

Obj = dict[str, Any]

_PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                   "failureThreshold": 3}
_JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"


def apply_defaults(kind: KindRef, obj: Obj) -> Obj:
    """A defaulted copy of ``obj`` (an object of ``kind``), null fields dropped.  An object with
    type errors is returned undefaulted: validation reports them, and no rule here has to guess
    what a mistyped field meant."""
    rk = resolve_kind(kind)
    decoded = typed.decode(rk, obj)
    out = copy.deepcopy(obj if decoded.errors else decoded.obj)
    rule = _RULES.get(rk.kind)
    if rule is not None and not decoded.errors:
        rule(out)
    return out


def image_pull_policy(image: str) -> str:
    """``Always`` for ``:latest`` or untagged images, else ``IfNotPresent`` (digests too)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "Always"
    return "Always" if last.rsplit(":", 1)[1] == "latest" else "IfNotPresent"


def _sub(obj: Obj, key: str) -> Obj:
    """``obj[key]`` as a dict, created when missing or null.  A value of another type is left
    for validation to report; defaults then go to a throwaway dict."""
    value = obj.get(key)
    if value is None:
        value = obj[key] = {}
    return value if isinstance(value, dict) else {}


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _list(obj: Obj, key: str) -> list[Any]:
    value = obj.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _zero_default(obj: Obj, key: str, value: Any) -> None:
    """Upstream's Go defaulting: a missing *or zero* (``0``, ``""``) value is the default."""
    if obj.get(key) in (None, 0, ""):
        obj[key] = value


def _http_get(handler: Any) -> None:
    """A probe's or lifecycle hook's ``httpGet``: path ``/``, scheme HTTP (as upstream)."""
    action = handler.get("httpGet") if isinstance(handler, dict) else None
    if isinstance(action, dict):
        _zero_default(action, "path", "/")
        _zero_default(action, "scheme", "HTTP")


def _probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in _PROBE_DEFAULTS.items():
        _zero_default(probe, key, value)
    _http_get(probe)


def _container(c: Obj) -> None:
    if isinstance(c.get("image"), str):
        c.setdefault("imagePullPolicy", image_pull_policy(c["image"]))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in _list(c, "ports"):
        _zero_default(port, "protocol", "TCP")
    for env in _list(c, "env"):
        source = env.get("valueFrom")
        field_ref = source.get("fieldRef") if isinstance(source, dict) else None
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(name))
    for hook in _dict(c.get("lifecycle")).values():
        _http_get(hook)


def _volume(v: Obj) -> None:
    for source in ("configMap", "secret"):
        if isinstance(v.get(source), dict):
            v[source].setdefault("defaultMode", 0o644)
    if isinstance(v.get("hostPath"), dict):
        v["hostPath"].setdefault("type", "")
    if isinstance(v.get("downwardAPI"), dict):
        v["downwardAPI"].setdefault("defaultMode", 0o644)


def pod_spec_defaults(spec: Obj) -> None:
    """Default a PodSpec in place (pods and every pod template)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    for c in (_list(spec, "containers") + _list(spec, "initContainers")
              + _list(spec, "ephemeralContainers")):
        _container(c)
    for v in _list(spec, "volumes"):
        _volume(v)


def _template(obj: Obj) -> None:
    spec = _sub(obj, "spec")
    pod_spec_defaults(_sub(_sub(spec, "template"), "spec"))


def _pod(obj: Obj) -> None:
    spec = _sub(obj, "spec")
    pod_spec_defaults(spec)
    if spec.get("serviceAccountName") or spec.get("serviceAccount"):
        name = spec.get("serviceAccountName") or spec.get("serviceAccount")
        spec["serviceAccountName"] = spec["serviceAccount"] = name
    else:
        spec["serviceAccountName"] = spec["serviceAccount"] = "default"
    status = _sub(obj, "status")
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", qos_class(spec))


def qos_class(spec: Obj) -> str:
    """``Guaranteed``, ``Burstable`` or ``BestEffort`` from the containers' resources."""
    resources = [c.get("resources") or {} for c in _list(spec, "containers")
                 + _list(spec, "initContainers")]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        if any(name not in limits for name in ("cpu", "memory")):
            return "Burstable"
        if any(str(requests.get(k, v)) != str(v) for k, v in limits.items()):
            return "Burstable"
    return "Guaranteed"


def _service(obj: Obj) -> None:
    spec = _sub(obj, "spec")
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    for port in _list(spec, "ports"):
        port.setdefault("protocol", "TCP")
        if "port" in port:
            port.setdefault("targetPort", port["port"])
    _sub(obj, "status").setdefault("loadBalancer", {})


def _endpoints(obj: Obj) -> None:
    for subset in _list(obj, "subsets"):
        for port in _list(subset, "ports"):
            port.setdefault("protocol", "TCP")


def _endpoint_slice(obj: Obj) -> None:
    for port in _list(obj, "ports"):
        port.setdefault("protocol", "TCP")


NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def _namespace(obj: Obj) -> None:
    # Upstream (since 1.21) forces this label to the name on every write, so that
    # NetworkPolicy namespaceSelectors and webhook namespaceSelectors can pick a namespace by name.
    name = _dict(obj.get("metadata")).get("name")
    if isinstance(name, str) and name:
        _sub(obj["metadata"], "labels")[NAMESPACE_NAME_LABEL] = name
    _sub(obj, "spec").setdefault("finalizers", ["kubernetes"])
    _sub(obj, "status").setdefault("phase", "Active")


def _secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")


def _pvc_spec(spec: Obj) -> None:
    spec.setdefault("volumeMode", "Filesystem")


def _pvc(obj: Obj) -> None:
    _pvc_spec(_sub(obj, "spec"))
    _sub(obj, "status").setdefault("phase", "Pending")


def _pv(obj: Obj) -> None:
    spec = _sub(obj, "spec")
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    _sub(obj, "status").setdefault("phase", "Pending")


def _deployment(obj: Obj) -> None:
    spec = _sub(obj, "spec")
    spec.setdefault("replicas", 1)
    strategy = _sub(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _sub(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(obj)


def _replicaset(obj: Obj) -> None:
    _sub(obj, "spec").setdefault("replicas", 1)
    _template(obj)


def _replication_controller(obj: Obj) -> None:
    rc_defaults(obj)
    _template(obj)


def _statefulset(obj: Obj) -> None:
    spec = _sub(obj, "spec")
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = _sub(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        _sub(strategy, "rollingUpdate").setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    retention = _sub(spec, "persistentVolumeClaimRetentionPolicy")
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    for claim in _list(spec, "volumeClaimTemplates"):
        _pvc_spec(_sub(claim, "spec"))
    _template(obj)


def _daemonset(obj: Obj) -> None:
    spec = _sub(obj, "spec")
    strategy = _sub(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _sub(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    _template(obj)


def _job(obj: Obj) -> None:
    spec = _sub(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    _template(obj)
    meta = _dict(obj.get("metadata"))
    uid = meta.get("uid")
    if uid and not spec.get("manualSelector") and not spec.get("selector"):
        spec["selector"] = {"matchLabels": {_JOB_UID_LABEL: uid}}
        labels = _sub(_sub(_sub(spec, "template"), "metadata"), "labels")
        name = meta.get("name", "")
        labels.update({_JOB_UID_LABEL: uid, "batch.kubernetes.io/job-name": name,
                       "controller-uid": uid, "job-name": name})


def _cronjob(obj: Obj) -> None:
    spec = _sub(obj, "spec")
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    _job(_sub(spec, "jobTemplate"))  # no uid there: the Jobs get their selectors when created


def _binding_subjects(obj: Obj) -> None:
    for subject in _list(obj, "subjects"):
        if subject.get("kind") in ("User", "Group"):
            subject.setdefault("apiGroup", "rbac.authorization.k8s.io")
        elif subject.get("kind") == "ServiceAccount":
            subject.setdefault("apiGroup", "")


def _ingress_class(obj: Obj) -> None:
    params = _dict(obj.get("spec")).get("parameters")
    if isinstance(params, dict):
        params.setdefault("scope", "Cluster")


_RULES: dict[str, Callable[[Obj], None]] = {
    "Pod": _pod, "Service": _service, "Endpoints": _endpoints, "Namespace": _namespace,
    "Secret": _secret, "PersistentVolumeClaim": _pvc, "PersistentVolume": _pv,
    "Deployment": _deployment, "ReplicaSet": _replicaset, "StatefulSet": _statefulset,
    "DaemonSet": _daemonset, "Job": _job, "CronJob": _cronjob, "PriorityClass": priorities.defaults,
    "RoleBinding": _binding_subjects,
    "ClusterRoleBinding": _binding_subjects, "EndpointSlice": _endpoint_slice,
    "IngressClass": _ingress_class, "NetworkPolicy": default_network_policy,
    "ValidatingWebhookConfiguration": partial(default_configuration, mutating=False),
    "MutatingWebhookConfiguration": partial(default_configuration, mutating=True),
    "StorageClass": storageclasses.default_storage_class,
    "ReplicationController": _replication_controller,
}
