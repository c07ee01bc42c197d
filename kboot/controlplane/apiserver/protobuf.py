"""Request bodies in Kubernetes protobuf (``application/vnd.kubernetes.protobuf``), decoded to JSON.

kubectl's typed clients — ``kubectl create namespace|configmap|secret|serviceaccount|
deployment|job|cronjob|priorityclass|service|role|rolebinding|clusterrole|clusterrolebinding|
pdb`` — send protobuf with no
JSON fallback, so the server must read it. A body is ``k8s\\0`` + ``runtime.Unknown`` {typeMeta
{apiVersion, kind}, raw}; ``raw`` is the typed message. This module knows the messages (field
numbers of upstream's ``generated.proto``) those generators fill, decodes them into the JSON
shape, and refuses — 415, never silently — any field it does not know that carries a value, so
a body is either decoded exactly or rejected with a hint to send JSON.

Non-pointer Go fields are always on the wire (zeros included) and JSON omits them when empty,
so zero scalars and empty messages are dropped, except for the pointer fields marked ``keep``
(``replicas: 0`` means zero replicas).
"""

from __future__ import annotations

import base64
import datetime
import json
from dataclasses import dataclass
from typing import Any

from kboot.controlplane.apiserver.errors import JsonObj, StatusError
from kboot.controlplane.errors import ControlPlaneError

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"


@dataclass(frozen=True)
class F:
    """One field: JSON name, type (scalar code or message name), repeated, keep zero values."""

    name: str
    type: str
    repeated: bool = False
    keep: bool = False


# scalar type codes: s string, i integer, b bool, y bytes (base64 in JSON), t Time,
# ms map<string,string>, my map<string,bytes>, mq map<string,Quantity>, io IntOrString
_META = {1: F("name", "s"), 2: F("generateName", "s"), 3: F("namespace", "s"),
         4: F("selfLink", "s"), 5: F("uid", "s"), 6: F("resourceVersion", "s"),
         7: F("generation", "i"), 8: F("creationTimestamp", "t"),
         9: F("deletionTimestamp", "t"), 10: F("deletionGracePeriodSeconds", "i", keep=True),
         11: F("labels", "ms"), 12: F("annotations", "ms"),
         13: F("ownerReferences", "OwnerReference", True), 14: F("finalizers", "s", True),
         17: F("managedFields", "ManagedFieldsEntry", True)}
_SELECTOR = {1: F("matchLabels", "ms"), 2: F("matchExpressions", "LabelSelectorRequirement",
                                            True)}
_CONTAINER = {1: F("name", "s"), 2: F("image", "s"), 3: F("command", "s", True),
              4: F("args", "s", True), 5: F("workingDir", "s"), 6: F("ports", "ContainerPort",
                                                                     True),
              7: F("env", "EnvVar", True), 8: F("resources", "ResourceRequirements"),
              13: F("terminationMessagePath", "s"), 14: F("imagePullPolicy", "s"),
              9: F("volumeMounts", "VolumeMount", True),
              16: F("stdin", "b"), 17: F("stdinOnce", "b"), 18: F("tty", "b"),
              20: F("terminationMessagePolicy", "s")}
_POD_SPEC = {1: F("volumes", "Volume", True),
             2: F("containers", "Container", True), 3: F("restartPolicy", "s"),
             4: F("terminationGracePeriodSeconds", "i", keep=True),
             5: F("activeDeadlineSeconds", "i", keep=True), 6: F("dnsPolicy", "s"),
             7: F("nodeSelector", "ms"), 8: F("serviceAccountName", "s"),
             9: F("serviceAccount", "s"), 10: F("nodeName", "s"), 11: F("hostNetwork", "b"),
             12: F("hostPID", "b"), 13: F("hostIPC", "b"), 16: F("hostname", "s"),
             17: F("subdomain", "s"), 19: F("schedulerName", "s"),
             20: F("initContainers", "Container", True),
             22: F("tolerations", "Toleration", True), 24: F("priorityClassName", "s"),
             30: F("enableServiceLinks", "b", keep=True)}
_RULE = {1: F("verbs", "s", True), 2: F("apiGroups", "s", True), 3: F("resources", "s", True),
         4: F("resourceNames", "s", True), 5: F("nonResourceURLs", "s", True)}
_BINDING = {1: F("metadata", "ObjectMeta"), 2: F("subjects", "Subject", True),
            3: F("roleRef", "RoleRef")}

MESSAGES: dict[str, dict[int, F]] = {
    "ObjectMeta": _META,
    "OwnerReference": {1: F("kind", "s"), 3: F("name", "s"), 4: F("uid", "s"),
                       5: F("apiVersion", "s"), 6: F("controller", "b", keep=True),
                       7: F("blockOwnerDeletion", "b", keep=True)},
    "ManagedFieldsEntry": {1: F("manager", "s"), 2: F("operation", "s"), 3: F("apiVersion", "s"),
                           4: F("time", "t"), 6: F("fieldsType", "s"), 7: F("fieldsV1", "fj"),
                           8: F("subresource", "s")},
    "LabelSelector": _SELECTOR,
    "LabelSelectorRequirement": {1: F("key", "s"), 2: F("operator", "s"),
                                 3: F("values", "s", True)},
    "Namespace": {1: F("metadata", "ObjectMeta"), 2: F("spec", "NamespaceSpec"),
                  3: F("status", "Ignored")},
    "NamespaceSpec": {1: F("finalizers", "s", True)},
    "ConfigMap": {1: F("metadata", "ObjectMeta"), 2: F("data", "ms"), 3: F("binaryData", "my"),
                  4: F("immutable", "b", keep=True)},
    "Secret": {1: F("metadata", "ObjectMeta"), 2: F("data", "my"), 3: F("type", "s"),
               4: F("stringData", "ms"), 5: F("immutable", "b", keep=True)},
    "ServiceAccount": {1: F("metadata", "ObjectMeta"),
                       3: F("imagePullSecrets", "LocalObjectReference", True),
                       4: F("automountServiceAccountToken", "b", keep=True)},
    "LocalObjectReference": {1: F("name", "s")},
    "Deployment": {1: F("metadata", "ObjectMeta"), 2: F("spec", "DeploymentSpec"),
                   3: F("status", "Ignored")},
    "DeploymentSpec": {1: F("replicas", "i", keep=True), 2: F("selector", "LabelSelector"),
                       3: F("template", "PodTemplateSpec"), 4: F("strategy", "Strategy"),
                       5: F("minReadySeconds", "i"), 6: F("revisionHistoryLimit", "i", keep=True),
                       7: F("paused", "b"), 9: F("progressDeadlineSeconds", "i", keep=True)},
    "Strategy": {1: F("type", "s")},
    "PodTemplateSpec": {1: F("metadata", "ObjectMeta"), 2: F("spec", "PodSpec")},
    # kubectl debug node/N creates its pod in protobuf: host namespaces, the host's / mounted
    "Pod": {1: F("metadata", "ObjectMeta"), 2: F("spec", "PodSpec"), 3: F("status", "Ignored")},
    "PodSpec": _POD_SPEC,
    "Volume": {1: F("name", "s"), 2: F("", "VolumeSource")},  # "": inlined in JSON
    "VolumeSource": {1: F("hostPath", "HostPathVolumeSource")},
    "HostPathVolumeSource": {1: F("path", "s"), 2: F("type", "s")},
    "VolumeMount": {1: F("name", "s"), 2: F("readOnly", "b"), 3: F("mountPath", "s"),
                    4: F("subPath", "s"), 5: F("mountPropagation", "s")},
    "Toleration": {1: F("key", "s"), 2: F("operator", "s"), 3: F("value", "s"),
                   4: F("effect", "s"), 5: F("tolerationSeconds", "i", keep=True)},
    "Container": _CONTAINER,
    "ContainerPort": {1: F("name", "s"), 2: F("hostPort", "i"), 3: F("containerPort", "i"),
                      4: F("protocol", "s"), 5: F("hostIP", "s")},
    "EnvVar": {1: F("name", "s"), 2: F("value", "s")},
    "ResourceRequirements": {1: F("limits", "mq"), 2: F("requests", "mq")},
    "Job": {1: F("metadata", "ObjectMeta"), 2: F("spec", "JobSpec"), 3: F("status", "Ignored")},
    "JobSpec": {1: F("parallelism", "i", keep=True), 2: F("completions", "i", keep=True),
                3: F("activeDeadlineSeconds", "i", keep=True), 4: F("selector", "LabelSelector"),
                5: F("manualSelector", "b", keep=True), 6: F("template", "PodTemplateSpec"),
                7: F("backoffLimit", "i", keep=True),
                8: F("ttlSecondsAfterFinished", "i", keep=True), 9: F("completionMode", "s"),
                10: F("suspend", "b", keep=True), 14: F("podReplacementPolicy", "s")},
    # kubectl create cronjob; kubectl create job --from=cronjob/x sends the defaulted template
    "CronJob": {1: F("metadata", "ObjectMeta"), 2: F("spec", "CronJobSpec"),
                3: F("status", "Ignored")},
    "CronJobSpec": {1: F("schedule", "s"), 2: F("startingDeadlineSeconds", "i", keep=True),
                    3: F("concurrencyPolicy", "s"), 4: F("suspend", "b", keep=True),
                    5: F("jobTemplate", "JobTemplateSpec"),
                    6: F("successfulJobsHistoryLimit", "i", keep=True),
                    7: F("failedJobsHistoryLimit", "i", keep=True), 8: F("timeZone", "s")},
    "JobTemplateSpec": {1: F("metadata", "ObjectMeta"), 2: F("spec", "JobSpec")},
    # kubectl create priorityclass
    "PriorityClass": {1: F("metadata", "ObjectMeta"), 2: F("value", "i", keep=True),
                      3: F("globalDefault", "b"), 4: F("description", "s"),
                      5: F("preemptionPolicy", "s")},
    # kubectl create quota
    "ResourceQuota": {1: F("metadata", "ObjectMeta"), 2: F("spec", "ResourceQuotaSpec"),
                      3: F("status", "Ignored")},
    "ResourceQuotaSpec": {1: F("hard", "mq"), 2: F("scopes", "s", True),
                          3: F("scopeSelector", "ScopeSelector")},
    "ScopeSelector": {1: F("matchExpressions", "ScopedResourceSelectorRequirement", True)},
    "ScopedResourceSelectorRequirement": {1: F("scopeName", "s"), 2: F("operator", "s"),
                                          3: F("values", "s", True)},
    "Service": {1: F("metadata", "ObjectMeta"), 2: F("spec", "ServiceSpec"),
                3: F("status", "Ignored")},
    "ServiceSpec": {1: F("ports", "ServicePort", True), 2: F("selector", "ms"),
                    3: F("clusterIP", "s"), 4: F("type", "s"), 5: F("externalIPs", "s", True),
                    7: F("sessionAffinity", "s")},
    "ServicePort": {1: F("name", "s"), 2: F("protocol", "s"), 3: F("port", "i"),
                    4: F("targetPort", "io"), 5: F("nodePort", "i")},
    "Role": {1: F("metadata", "ObjectMeta"), 2: F("rules", "PolicyRule", True)},
    "ClusterRole": {1: F("metadata", "ObjectMeta"), 2: F("rules", "PolicyRule", True)},
    "PolicyRule": _RULE,
    "RoleBinding": _BINDING,
    "ClusterRoleBinding": _BINDING,
    "Subject": {1: F("kind", "s"), 2: F("apiGroup", "s"), 3: F("name", "s"),
                4: F("namespace", "s")},
    "RoleRef": {1: F("apiGroup", "s"), 2: F("kind", "s"), 3: F("name", "s")},
    "Eviction": {1: F("metadata", "ObjectMeta"), 2: F("deleteOptions", "DeleteOptions")},
    # kubectl create pdb
    "PodDisruptionBudget": {1: F("metadata", "ObjectMeta"), 2: F("spec", "PodDisruptionBudgetSpec"),
                            3: F("status", "Ignored")},
    "PodDisruptionBudgetSpec": {1: F("minAvailable", "io"), 2: F("selector", "LabelSelector"),
                                3: F("maxUnavailable", "io"),
                                4: F("unhealthyPodEvictionPolicy", "s")},
    # kubectl autoscale (autoscaling/v1, converted in hpav1.py)
    "HorizontalPodAutoscaler": {1: F("metadata", "ObjectMeta"),
                                2: F("spec", "HorizontalPodAutoscalerSpec"),
                                3: F("status", "Ignored")},
    "HorizontalPodAutoscalerSpec": {1: F("scaleTargetRef", "CrossVersionObjectReference"),
                                    2: F("minReplicas", "i", keep=True),
                                    3: F("maxReplicas", "i"),
                                    4: F("targetCPUUtilizationPercentage", "i", keep=True)},
    "CrossVersionObjectReference": {1: F("kind", "s"), 2: F("name", "s"),
                                    3: F("apiVersion", "s")},
    "DeleteOptions": {1: F("gracePeriodSeconds", "i", keep=True),
                      2: F("preconditions", "Preconditions"),
                      3: F("orphanDependents", "b", keep=True), 4: F("propagationPolicy", "s"),
                      5: F("dryRun", "s", True)},
    "Preconditions": {1: F("uid", "s"), 2: F("resourceVersion", "s")},
    "SelfSubjectAccessReview": {1: F("metadata", "ObjectMeta"), 2: F("spec", "ReviewSpec"),
                                3: F("status", "Ignored")},
    "SelfSubjectRulesReview": {1: F("metadata", "ObjectMeta"), 2: F("spec", "RulesReviewSpec"),
                               3: F("status", "Ignored")},
    "RulesReviewSpec": {1: F("namespace", "s")},
    "ReviewSpec": {1: F("resourceAttributes", "ResourceAttributes"),
                   2: F("nonResourceAttributes", "NonResourceAttributes")},
    "ResourceAttributes": {1: F("namespace", "s"), 2: F("verb", "s"), 3: F("group", "s"),
                           4: F("version", "s"), 5: F("resource", "s"),
                           6: F("subresource", "s"), 7: F("name", "s")},
    "NonResourceAttributes": {1: F("path", "s"), 2: F("verb", "s")},
    "TokenRequest": {1: F("metadata", "ObjectMeta"), 2: F("spec", "TokenRequestSpec"),
                     3: F("status", "Ignored")},
    "TokenRequestSpec": {1: F("audiences", "s", True), 3: F("boundObjectRef", "BoundObject"),
                         4: F("expirationSeconds", "i", keep=True)},
    "BoundObject": {1: F("kind", "s"), 2: F("apiVersion", "s"), 3: F("name", "s"),
                    4: F("uid", "s")},
    # kubectl certificate approve|deny: a whole CSR PUT to its approval subresource
    "CertificateSigningRequest": {1: F("metadata", "ObjectMeta"),
                                  2: F("spec", "CertificateSigningRequestSpec"),
                                  3: F("status", "CertificateSigningRequestStatus")},
    "CertificateSigningRequestSpec": {1: F("request", "y"), 2: F("username", "s"),
                                      3: F("uid", "s"), 4: F("groups", "s", True),
                                      5: F("usages", "s", True), 7: F("signerName", "s"),
                                      8: F("expirationSeconds", "i", keep=True)},
    "CertificateSigningRequestStatus": {1: F("conditions", "CertificateSigningRequestCondition",
                                             True), 2: F("certificate", "y")},
    "CertificateSigningRequestCondition": {1: F("type", "s"), 2: F("reason", "s"),
                                           3: F("message", "s"), 4: F("lastUpdateTime", "t"),
                                           5: F("lastTransitionTime", "t"), 6: F("status", "s")},
}
TOP_LEVEL = frozenset({"Pod", "Namespace", "ConfigMap", "Secret", "ServiceAccount", "Deployment",
                       "Job", "Service", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding",
                       "Eviction", "DeleteOptions", "SelfSubjectAccessReview",
                       "PodDisruptionBudget", "HorizontalPodAutoscaler", "CronJob",
                       "PriorityClass", "ResourceQuota",
                       "SelfSubjectRulesReview",
                       "TokenRequest", "CertificateSigningRequest"})


class _Unsupported(ControlPlaneError):
    pass


def _unsupported(message: str) -> StatusError:
    return StatusError(415, "UnsupportedMediaType",
                    f"kboot-apiserver cannot decode this protobuf body ({message}); send "
                    f"JSON instead (e.g. kubectl create -f / kubectl apply -f)")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Unsupported("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of one message: varints as ints, the rest as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise _Unsupported("truncated field")
            out.append((number, data[pos:pos + size]))
            pos += size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            out.append((number, data[pos:pos + width]))
            pos += width
        else:
            raise _Unsupported(f"wire type {wire}")
    return out


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _string(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise _Unsupported("expected a string")
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise _Unsupported("string is not UTF-8") from None


def _map(value: int | bytes, kind: str) -> tuple[str, Any]:
    if not isinstance(value, bytes):
        raise _Unsupported("expected a map entry")
    entry = dict(fields(value))
    key = _string(entry.get(1, b""))
    raw = entry.get(2, b"")
    if kind == "my":
        return key, base64.b64encode(raw if isinstance(raw, bytes) else b"").decode()
    if kind == "mq":
        return key, _string(dict(fields(raw if isinstance(raw, bytes) else b"")).get(1, b""))
    return key, _string(raw)


def _scalar(value: int | bytes, kind: str) -> Any:
    if kind == "s":
        return _string(value)
    if kind == "i":
        if not isinstance(value, int):
            raise _Unsupported("expected an integer")
        return _signed(value)
    if kind == "b":
        return bool(value)
    if kind == "y":
        return base64.b64encode(value if isinstance(value, bytes) else b"").decode()
    if kind == "t":
        parts = dict(fields(value if isinstance(value, bytes) else b""))
        seconds = parts.get(1, 0)
        if not seconds:
            return None
        moment = datetime.datetime.fromtimestamp(_signed(int(seconds)), datetime.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "fj":  # FieldsV1 {raw = 1}: managed fields as JSON text
        raw = dict(fields(value if isinstance(value, bytes) else b"")).get(1, b"")
        try:
            return json.loads(raw if isinstance(raw, bytes) else b"{}")
        except ValueError:
            raise _Unsupported("fieldsV1 is not JSON") from None
    if kind == "io":
        parts = dict(fields(value if isinstance(value, bytes) else b""))
        if parts.get(1, 0) == 1:
            return _string(parts.get(3, b""))
        return _signed(int(parts.get(2, 0)))
    raise _Unsupported(f"type {kind}")


def _empty(value: Any) -> bool:
    return value in (None, "", 0, False) or value == {} or value == []


def decode_message(name: str, data: bytes) -> JsonObj:
    """Decode one message of ``MESSAGES[name]`` into its JSON object."""
    schema = MESSAGES[name]
    out: JsonObj = {}
    for number, value in fields(data):
        spec = schema.get(number)
        if spec is None:
            if value in (0, b""):
                continue  # an unknown field left at its zero value carries nothing
            raise _Unsupported(f"field {number} of {name}")
        if spec.type == "Ignored":
            continue
        if spec.type in ("ms", "my", "mq"):
            key, item = _map(value, spec.type)
            out.setdefault(spec.name, {})[key] = item
            continue
        if spec.type in MESSAGES:
            decoded: Any = decode_message(spec.type, value if isinstance(value, bytes) else b"")
            if not spec.name:  # an embedded struct whose fields JSON inlines
                out.update(decoded)
                continue
        else:
            decoded = _scalar(value, spec.type)
        if spec.repeated:
            out.setdefault(spec.name, []).append(decoded)
        elif spec.keep or not _empty(decoded):
            out[spec.name] = decoded
    return out


def decode_object(raw: bytes) -> JsonObj:
    """A ``k8s\\0``-framed protobuf object as JSON (apiVersion/kind from its type meta)."""
    if not raw.startswith(MAGIC):
        raise _unsupported("missing the k8s protobuf envelope")
    try:
        envelope = dict(fields(raw[len(MAGIC):]))
        type_meta = dict(fields(envelope.get(1, b"") or b""))  # type: ignore[arg-type]
        api_version, kind = _string(type_meta.get(1, b"")), _string(type_meta.get(2, b""))
        if kind not in TOP_LEVEL:
            raise _Unsupported(f"kind {kind or '?'}")
        body = envelope.get(2, b"")
        obj = decode_message(kind, body if isinstance(body, bytes) else b"")
    except _Unsupported as err:
        raise _unsupported(str(err)) from None
    except (RecursionError, ValueError, OverflowError) as err:
        raise _unsupported(type(err).__name__) from None
    return {"apiVersion": api_version, "kind": kind, **obj}
