"""The registry of resource kinds the apiserver serves: one :class:`ResourceKind` per kind.

This is the single source of truth for names, scopes, storage keys, verbs and subresources;
discovery, routing, storage layout and the client's URL building all read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceKind:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "scale", "binding", "eviction", "log", "exec"
    verbs: tuple[str, ...] = ALL_VERBS
    # etcd key segment under /registry/ (upstream quirks: minions, services/specs, …)
    storage: str = ""
    field_selectors: tuple[str, ...] = field(default=())
    # the object schema of a kind registered at run time (a CRD version's openAPIV3Schema):
    # server-side apply and managedFields read its list types; None for the built-in kinds
    schema: Any = field(default=None, compare=False, repr=False)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def storage_prefix(self) -> str:
        return f"/registry/{self.storage or self.plural}/"

    def key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"{self.storage_prefix}{namespace}/{name}"
        return f"{self.storage_prefix}{name}"

    def url_path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = "/api/v1" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        return base


_WORKLOAD = ("all",)
_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)

KINDS: tuple[ResourceKind, ...] = (
    # core/v1
    ResourceKind("", "v1", "Namespace", "namespaces", False, ("ns",), subresources=("status",),
                 field_selectors=("status.phase",)),
    ResourceKind("", "v1", "Node", "nodes", False, ("no",), subresources=("status",),
                 storage="minions", field_selectors=("spec.unschedulable",)),
    ResourceKind("", "v1", "Pod", "pods", True, ("po",), _WORKLOAD,
                 ("status", "binding", "eviction", "log", "exec", "attach",
                  "ephemeralcontainers"),
                 field_selectors=_POD_FIELDS),
    ResourceKind("", "v1", "Service", "services", True, ("svc",), _WORKLOAD, ("status",),
                 storage="services/specs"),
    ResourceKind("", "v1", "Endpoints", "endpoints", True, ("ep",),
                 storage="services/endpoints"),
    ResourceKind("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    ResourceKind("", "v1", "Secret", "secrets", True, (), field_selectors=("type",)),
    ResourceKind("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",)),
    ResourceKind("", "v1", "Event", "events", True, ("ev",), field_selectors=_EVENT_FIELDS),
    ResourceKind("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",), (),
                 ("status",)),
    ResourceKind("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",), (),
                 ("status",)),
    # quotas and default limits (admission: apiserver/limitranger.py, apiserver/resourcequota.py)
    ResourceKind("", "v1", "ResourceQuota", "resourcequotas", True, ("quota",), (), ("status",)),
    ResourceKind("", "v1", "LimitRange", "limitranges", True, ("limits",)),
    # events.k8s.io/v1: the same stored Events as core/v1, converted (api/events.py)
    ResourceKind("events.k8s.io", "v1", "Event", "events", True, ("ev",), storage="events",
                 field_selectors=("regarding.kind", "regarding.namespace", "regarding.name",
                                  "regarding.uid", "regarding.apiVersion",
                                  "regarding.resourceVersion", "regarding.fieldPath", "reason",
                                  "reportingController", "type")),
    # the ReplicaSet's core/v1 predecessor (equality selector); charts and the Python client's
    # e2e suite still create them
    ResourceKind("", "v1", "ReplicationController", "replicationcontrollers", True, ("rc",),
                 _WORKLOAD, ("status", "scale"), field_selectors=("status.replicas",)),
    # apps/v1
    ResourceKind("apps", "v1", "Deployment", "deployments", True, ("deploy",), _WORKLOAD,
                 ("status", "scale")),
    ResourceKind("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), _WORKLOAD,
                 ("status", "scale"), field_selectors=("status.replicas",)),
    ResourceKind("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), _WORKLOAD,
                 ("status", "scale")),
    ResourceKind("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), _WORKLOAD, ("status",)),
    ResourceKind("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    # batch/v1
    ResourceKind("batch", "v1", "Job", "jobs", True, (), _WORKLOAD, ("status",),
                 field_selectors=("status.successful",)),
    ResourceKind("batch", "v1", "CronJob", "cronjobs", True, ("cj",), _WORKLOAD, ("status",)),
    # scheduling.k8s.io/v1: pod priorities (the Priority admission, scheduler preemption)
    ResourceKind("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ("pc",)),
    # policy/v1: budgets the eviction subresource and the disruption controller honour
    ResourceKind("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",),
                 (), ("status",)),
    # networking.k8s.io/v1
    ResourceKind("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("ing",), (),
                 ("status",), storage="ingress"),
    ResourceKind("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    ResourceKind("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True,
                 ("netpol",)),
    # discovery.k8s.io/v1
    ResourceKind("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    # storage.k8s.io/v1: classes for dynamic provisioning (kboot's local-path), CSI objects
    # that charts read
    ResourceKind("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ("sc",)),
    ResourceKind("storage.k8s.io", "v1", "CSIDriver", "csidrivers", False),
    ResourceKind("storage.k8s.io", "v1", "CSINode", "csinodes", False),
    # coordination.k8s.io/v1
    ResourceKind("coordination.k8s.io", "v1", "Lease", "leases", True),
    # certificates.k8s.io/v1: kubelet TLS bootstrap (CSRs signed by the controller-manager)
    ResourceKind("certificates.k8s.io", "v1", "CertificateSigningRequest",
                 "certificatesigningrequests", False, ("csr",), (), ("status", "approval"),
                 field_selectors=("spec.signerName",)),
    # admissionregistration.k8s.io/v1: dynamic admission webhooks (apiserver/webhooks/)
    ResourceKind("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
                 "validatingwebhookconfigurations", False, categories=("api-extensions",)),
    ResourceKind("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
                 "mutatingwebhookconfigurations", False, categories=("api-extensions",)),
    # rbac.authorization.k8s.io/v1
    ResourceKind("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    ResourceKind("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    ResourceKind("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    ResourceKind("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
                 False),
    # apiregistration.k8s.io/v1: aggregated APIs (kboot/controlplane/apiserver/aggregator.py)
    ResourceKind("apiregistration.k8s.io", "v1", "APIService", "apiservices", False, (),
                 ("api-extensions",), ("status",)),
    # autoscaling/v2: the HPA controller (kboot/controlplane/controllers/hpa.py)
    ResourceKind("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True,
                 ("hpa",), ("all",), ("status",)),
)

BY_PLURAL: dict[tuple[str, str], ResourceKind] = {(k.group, k.plural): k for k in KINDS}
BY_KIND: dict[tuple[str, str], ResourceKind] = {(k.group, k.kind): k for k in KINDS}


def lookup(group: str, plural: str) -> ResourceKind | None:
    return BY_PLURAL.get((group, plural))


def for_api_version(api_version: str, kind: str) -> ResourceKind | None:
    group = api_version.rpartition("/")[0]
    return BY_KIND.get((group, kind))
