"""The Node authorizer: what a kubelet (``system:node:<name>`` in ``system:nodes``) may touch.

Upstream's rules, simplified: a node may read a Secret, ConfigMap or PersistentVolumeClaim only
when a pod bound to it references it; it may write only its own Node (and its status), its own
Lease in ``kube-node-lease``, the status of pods bound to it, and PersistentVolumes whose node
affinity pins them to it (the local-path data finalizer, see
:mod:`kboot.controlplane.kubelet.localpath`). Everything else a node does (list pods, create
events, …) is left to RBAC's ``system:node`` role.
"""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api.podrefs import (
    CLAIMS,
    CONFIGMAPS,
    SECRETS,
    PodReference,
    pod_references,
)
from kboot.controlplane.api.registry import lookup
from kboot.controlplane.api.storageclasses import pinned_node
from kboot.controlplane.apiserver.attributes import Attributes
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.watchcache import WatchCaches

JsonObj = dict[str, Any]
_REFERENCED = (SECRETS, CONFIGMAPS, CLAIMS)
_WRITES = ("update", "patch", "delete")


class NodeAuthorizer:
    def __init__(self, caches: WatchCaches) -> None:
        self.caches = caches
        pods = lookup("", "pods")
        volumes = lookup("", "persistentvolumes")
        assert pods is not None and volumes is not None
        self.pods, self.volumes = pods, volumes

    def _bound_pods(self, node: str, namespace: str | None = None) -> list[JsonObj]:
        objects = self.caches.peek(self.pods).objects.values()
        return [p for p in objects if (p.get("spec") or {}).get("nodeName") == node
                and (namespace is None or p["metadata"].get("namespace") == namespace)]

    def _pinned_here(self, node: str, name: str) -> bool:
        pv = self.caches.peek(self.volumes).objects.get(self.volumes.key(None, name))
        return pv is not None and pinned_node(pv) == node

    def decide(self, user: UserInfo, attrs: Attributes) -> bool | None:
        """True/False when the node rules decide, None to defer to RBAC."""
        node = user.node_name
        if node is None or not attrs.is_resource:
            return None
        if attrs.resource in _REFERENCED and attrs.group == "":
            # reads of what its pods reference
            if attrs.verb != "get" or not attrs.name:
                return False
            wanted = PodReference(attrs.resource, attrs.name)
            return any(wanted in pod_references(p)
                       for p in self._bound_pods(node, attrs.namespace))
        if attrs.resource == "persistentvolumes" and attrs.group == "" and \
                attrs.verb in (*_WRITES, "create"):
            return attrs.verb in ("update", "patch") and self._pinned_here(node, attrs.name)
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
