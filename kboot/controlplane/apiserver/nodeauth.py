"""The Node authorizer: what a kubelet (``system:node:<name>`` in ``system:nodes``) may touch.

Upstream's rules, simplified: a node may read a Secret, ConfigMap or PersistentVolumeClaim only
when a pod bound to it references it (and bind such a claim: kboot's local-path provisioner runs
in the kubelet); it may write only its own Node (and its status), its own
Lease in ``kube-node-lease``, and the status of pods bound to it. Everything else a node does
(list pods, create events, …) is left to RBAC's ``system:node`` role.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.watchcache import WatchCaches

if TYPE_CHECKING:
    from kboot.controlplane.apiserver.authz import Attributes

JsonObj = dict[str, Any]
_REFERENCED = {"secrets": "secret", "configmaps": "configmap",
               "persistentvolumeclaims": "pvc"}
_WRITES = ("update", "patch", "delete")


def _containers(spec: JsonObj) -> list[JsonObj]:
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or []),
            *(spec.get("ephemeralContainers") or [])]


def pod_references(pod: JsonObj) -> set[tuple[str, str]]:
    """(kind, name) of every secret/configmap/pvc the pod needs."""
    spec = pod.get("spec") or {}
    refs: set[tuple[str, str]] = set()
    refs.update(("secret", s.get("name", "")) for s in spec.get("imagePullSecrets") or [])
    for vol in spec.get("volumes") or []:
        if "secret" in vol:
            refs.add(("secret", vol["secret"].get("secretName", "")))
        if "configMap" in vol:
            refs.add(("configmap", vol["configMap"].get("name", "")))
        if "persistentVolumeClaim" in vol:
            refs.add(("pvc", vol["persistentVolumeClaim"].get("claimName", "")))
        for src in (vol.get("projected") or {}).get("sources") or []:
            if "secret" in src:
                refs.add(("secret", src["secret"].get("name", "")))
            if "configMap" in src:
                refs.add(("configmap", src["configMap"].get("name", "")))
    for c in _containers(spec):
        for env in c.get("env") or []:
            source = env.get("valueFrom") or {}
            if "secretKeyRef" in source:
                refs.add(("secret", source["secretKeyRef"].get("name", "")))
            if "configMapKeyRef" in source:
                refs.add(("configmap", source["configMapKeyRef"].get("name", "")))
        for env_from in c.get("envFrom") or []:
            if "secretRef" in env_from:
                refs.add(("secret", env_from["secretRef"].get("name", "")))
            if "configMapRef" in env_from:
                refs.add(("configmap", env_from["configMapRef"].get("name", "")))
    return refs


class NodeAuthorizer:
    def __init__(self, caches: WatchCaches) -> None:
        self.caches = caches
        pods = lookup("", "pods")
        assert pods is not None
        self.pods = pods

    def _bound_pods(self, node: str, namespace: str | None = None) -> list[JsonObj]:
        objects = self.caches.peek(self.pods).objects.values()
        return [p for p in objects if (p.get("spec") or {}).get("nodeName") == node
                and (namespace is None or p["metadata"].get("namespace") == namespace)]

    def decide(self, user: UserInfo, attrs: Attributes) -> bool | None:
        """True/False when the node rules decide, None to defer to RBAC."""
        node = user.node_name
        if node is None or not attrs.is_resource:
            return None
        if attrs.resource in _REFERENCED and attrs.group == "":
            # reads of what its pods reference; for claims also the binding writes of the
            # kubelet's local-path provisioner (spec.volumeName, status.phase)
            verbs = ("get", "patch", "update") if attrs.resource == "persistentvolumeclaims" \
                else ("get",)
            if attrs.verb not in verbs or not attrs.name:
                return False
            wanted = (_REFERENCED[attrs.resource], attrs.name)
            return any(wanted in pod_references(p)
                       for p in self._bound_pods(node, attrs.namespace))
        if attrs.resource == "serviceaccounts" and attrs.subresource == "token":
            return attrs.verb == "create" and any(
                ((p.get("spec") or {}).get("serviceAccountName") or "default") == attrs.name
                for p in self._bound_pods(node, attrs.namespace))
        if attrs.resource == "nodes" and attrs.verb in _WRITES:
            return attrs.name == node
        if attrs.resource == "leases" and attrs.verb in (*_WRITES, "create"):
            return attrs.namespace == "kube-node-lease" and attrs.name in (node, "")
        if attrs.resource == "pods" and attrs.verb in _WRITES and attrs.name:
            pod = self.caches.peek(self.pods).objects.get(
                self.pods.key(attrs.namespace, attrs.name))
            return pod is not None and (pod.get("spec") or {}).get("nodeName") == node
        return None
