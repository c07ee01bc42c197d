"""Objects every cluster starts with, created at startup when missing.

Namespaces ``default``, ``kube-system``, ``kube-public``, ``kube-node-lease``; the ``kubernetes``
Service (first address of the service range) and its Endpoints (this apiserver; kept to the live
apiservers by ``endpointleases.py``); and the default
RBAC roles and bindings (upstream names): ``cluster-admin`` for ``system:masters``, the
scheduler's, controller-manager's, node's, kube-proxy's and node-bootstrapper's roles,
discovery for every authenticated user, and the user-facing ``view``/``edit``/``admin``.
"""

from __future__ import annotations

import logging
from typing import Any

from kboot.controlplane.api.priorities import builtin_classes
from kboot.controlplane.api.registry import ResourceKind, lookup
from kboot.controlplane.apiserver.admission import WriteOptions, admit_create
from kboot.controlplane.apiserver.errors import StatusError
from kboot.controlplane.apiserver.storage import ObjectStorage
from kboot.controlplane.apiserver.writes import guarded_update
from kboot.controlplane.client.clock import Clock

log = logging.getLogger(__name__)
JsonObj = dict[str, Any]

ALL = ["*"]
READ = ["get", "list", "watch"]
WRITE = ["create", "update", "patch", "delete", "deletecollection"]
_WORKLOADS = ["deployments", "replicasets", "statefulsets", "daemonsets", "controllerrevisions"]
_CORE_USER = ["pods", "services", "endpoints", "configmaps", "secrets", "serviceaccounts",
              "persistentvolumeclaims", "events", "pods/log", "pods/status", "services/status",
              "replicationcontrollers", "replicationcontrollers/scale"]


_CERTS = "certificates.k8s.io"


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> JsonObj:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _urls(urls: list[str], verbs: list[str]) -> JsonObj:
    return {"nonResourceURLs": urls, "verbs": verbs}


CLUSTER_ROLES: dict[str, list[JsonObj]] = {
    "cluster-admin": [_rule(ALL, ALL, ALL), _urls(["*"], ALL)],
    "system:discovery": [_urls(["/api", "/api/*", "/apis", "/apis/*", "/openapi",
                                "/openapi/*", "/version", "/version/", "/healthz", "/livez",
                                "/readyz"], ["get"])],
    "system:kube-scheduler": [
        _rule([""], ["pods", "nodes", "namespaces", "services", "persistentvolumeclaims",
                     "persistentvolumes", "replicationcontrollers"], READ),
        _rule([""], ["pods/binding", "bindings"], ["create"]),
        # VolumeBinding: the selected-node annotation on WaitForFirstConsumer claims
        _rule([""], ["persistentvolumeclaims"], ["patch", "update"]),
        _rule(["storage.k8s.io"], ["storageclasses", "csinodes", "csidrivers"], READ),
        _rule([""], ["pods/status"], ["patch", "update"]),
        _rule([""], ["pods"], ["delete"]),
        _rule([""], ["events"], ["create", "patch", "update"]),
        _rule(["apps"], ["replicasets", "statefulsets"], READ),
        _rule(["policy"], ["poddisruptionbudgets"], READ),
        _rule(["coordination.k8s.io"], ["leases"], ["create", "get", "update", "list",
                                                      "watch"]),
    ],
    "system:kube-controller-manager": [_rule(ALL, ALL, ALL)],
    "system:node": [
        _rule([""], ["pods", "nodes", "services", "endpoints", "namespaces",
                     "persistentvolumes"], READ),
        _rule([""], ["nodes", "nodes/status"], ["create", "get", "update", "patch"]),
        _rule([""], ["pods", "pods/status"], ["create", "delete", "update", "patch"]),
        _rule([""], ["events"], ["create", "patch", "update"]),
        _rule([""], ["secrets", "configmaps", "persistentvolumeclaims"], ["get"]),
        # local-path data removal: the finalizer of a volume pinned to the node (the Node
        # authorizer allows no other PV write)
        _rule([""], ["persistentvolumes"], ["patch", "update"]),
        _rule(["coordination.k8s.io"], ["leases"], ["create", "get", "update", "patch",
                                                      "delete"]),
        _rule(["discovery.k8s.io"], ["endpointslices"], READ),
        # renewing its own client certificate
        _rule([_CERTS], ["certificatesigningrequests"], ["create", "get", "list", "watch"]),
    ],
    "system:kube-proxy": [
        _rule([""], ["services", "endpoints", "nodes"], READ),
        _rule(["discovery.k8s.io"], ["endpointslices"], READ),
        _rule([""], ["events"], ["create", "patch", "update"]),
        # NetworkPolicy enforcement (as a CNI's node agent): policies, pods and namespaces
        _rule([""], ["pods", "namespaces"], READ),
        _rule(["networking.k8s.io"], ["networkpolicies"], READ),
    ],
    # a joining kubelet (bootstrap token) asks for its client certificate through a CSR
    "system:node-bootstrapper": [_rule([""], ["nodes"], ["create", "get"]),
                                 _rule([""], ["namespaces"], ["get"]),
                                 _rule([_CERTS], ["certificatesigningrequests"],
                                       ["create", "get", "list", "watch"])],
    "view": [_rule([""], [*_CORE_USER, "namespaces"], READ), _rule(["apps"], _WORKLOADS, READ),
             _rule(["batch"], ["jobs"], READ),
             _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], READ),
             _rule(["policy"], ["poddisruptionbudgets"], READ)],
    "edit": [_rule([""], _CORE_USER, READ + WRITE), _rule(["apps"], [
        *_WORKLOADS, "deployments/scale", "replicasets/scale", "statefulsets/scale"], READ + WRITE),
        _rule(["batch"], ["jobs"], READ + WRITE),
        _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], READ + WRITE),
        _rule(["policy"], ["poddisruptionbudgets"], READ + WRITE),
        _rule([""], ["pods/exec", "pods/attach", "pods/eviction"], ["create", "get"]),
        _rule([""], ["namespaces"], READ)],
    "admin": [_rule(["", "apps", "batch", "networking.k8s.io", "rbac.authorization.k8s.io",
                     "coordination.k8s.io", "discovery.k8s.io", "policy"], ALL, ALL)],
}

# binding name → (cluster role, subject kind, subject name)
CLUSTER_BINDINGS: dict[str, tuple[str, str, str]] = {
    "cluster-admin": ("cluster-admin", "Group", "system:masters"),
    "system:discovery": ("system:discovery", "Group", "system:authenticated"),
    "system:kube-scheduler": ("system:kube-scheduler", "User", "system:kube-scheduler"),
    "system:kube-controller-manager": ("system:kube-controller-manager", "User",
                                       "system:kube-controller-manager"),
    "system:node": ("system:node", "Group", "system:nodes"),
    "system:node-proxier": ("system:kube-proxy", "User", "system:kube-proxy"),
    "kubeadm:kubelet-bootstrap": ("system:node-bootstrapper", "Group", "system:bootstrappers"),
}

NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def default_objects(*, service_ip: str, advertise_address: str, port: int
                    ) -> list[tuple[str, str, JsonObj]]:
    """(group, plural, object) of everything bootstrap creates."""
    out: list[tuple[str, str, JsonObj]] = [
        ("", "namespaces", {"metadata": {"name": ns}}) for ns in NAMESPACES]
    out.append(("", "services", {"metadata": {"name": "kubernetes", "namespace": "default",
                                              "labels": {"component": "apiserver",
                                                         "provider": "kubernetes"}},
                                 "spec": {"clusterIP": service_ip, "clusterIPs": [service_ip],
                                          "ipFamilies": [_family(service_ip)],
                                          "ipFamilyPolicy": "SingleStack", "ports": [
                                              {"name": "https", "port": 443, "protocol": "TCP",
                                               "targetPort": port}]}}))
    out.append(("", "endpoints", {"metadata": {"name": "kubernetes", "namespace": "default"},
                                  "subsets": [{"addresses": [{"ip": advertise_address}],
                                               "ports": [{"name": "https", "port": port,
                                                          "protocol": "TCP"}]}]}))
    out.append(("discovery.k8s.io", "endpointslices", {
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": _family(advertise_address),
        "endpoints": [{"addresses": [advertise_address], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}))
    rbac = "rbac.authorization.k8s.io"
    auto = {"kubernetes.io/bootstrapping": "rbac-defaults"}
    for name, rules in CLUSTER_ROLES.items():
        out.append((rbac, "clusterroles", {"metadata": {"name": name, "labels": auto},
                                           "rules": rules}))
    for name, (role, kind, subject) in CLUSTER_BINDINGS.items():
        out.append((rbac, "clusterrolebindings", {
            "metadata": {"name": name, "labels": auto},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": rbac, "kind": kind, "name": subject}]}))
    out += [("scheduling.k8s.io", "priorityclasses", pc) for pc in builtin_classes()]
    return out


def _family(ip: str) -> str:
    return "IPv6" if ":" in ip else "IPv4"


async def ensure_defaults(storage: ObjectStorage, *, service_ip: str, advertise_address: str,
                          port: int, clock: Clock) -> None:
    """Create each default object that does not exist yet (idempotent, safe with peers).

    Default ClusterRoles that exist but lack rules a newer kboot grants get those rules added
    (upstream's auto-reconciliation), so an upgraded cluster gains e.g. the CSR permissions;
    rules an administrator added are kept."""
    opts = WriteOptions(field_manager="kube-apiserver")
    for group, plural, obj in default_objects(service_ip=service_ip,
                                              advertise_address=advertise_address, port=port):
        kind = lookup(group, plural)
        assert kind is not None
        meta = obj["metadata"]
        if await storage.store.get(kind.key(meta.get("namespace"), meta["name"])) is not None:
            if plural == "clusterroles":
                await _add_missing_rules(storage, kind, meta["name"], obj["rules"])
            continue
        obj = {"apiVersion": kind.api_version, "kind": kind.kind, **obj}
        admitted = admit_create(storage.kinds.strategy(kind), obj,
                                namespace=meta.get("namespace"), opts=opts, now=clock.now())
        try:
            await storage.create(kind, admitted)
        except StatusError as err:
            if err.code != 409:
                raise
        else:
            log.info("created default %s %s", kind.plural, meta["name"])


async def _add_missing_rules(storage: ObjectStorage, kind: ResourceKind, name: str,
                             rules: list[JsonObj]) -> None:
    def add(current: JsonObj) -> JsonObj:
        labels = (current.get("metadata") or {}).get("labels") or {}
        if labels.get("kubernetes.io/bootstrapping") != "rbac-defaults":
            return current  # an administrator's own role of that name: not ours to change
        have = current.get("rules") or []
        missing = [r for r in rules if r not in have]
        return {**current, "rules": [*have, *missing]} if missing else current

    await guarded_update(storage, kind, None, name, add)

