"""The Node authorizer: a kubelet may read only the claims its own pods use, and write only the
PersistentVolumes pinned to it (the local-path data finalizer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.authz import Attributes
from kboot.controlplane.apiserver.nodeauth import NodeAuthorizer

PODS = lookup("", "pods")
PVS = lookup("", "persistentvolumes")


@dataclass
class _Cache:
    objects: dict[str, Any] = field(default_factory=dict)


class _Caches:
    def __init__(self, pods: list[dict[str, Any]], volumes: tuple[dict[str, Any], ...] = ()
                 ) -> None:
        assert PODS is not None and PVS is not None
        self.cache = _Cache({PODS.key(p["metadata"]["namespace"], p["metadata"]["name"]): p
                             for p in pods})
        self.volumes = _Cache({PVS.key(None, v["metadata"]["name"]): v for v in volumes})

    def peek(self, kind: object) -> _Cache:
        return self.volumes if kind is PVS else self.cache


def _pod(name: str, node: str, claim: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}],
                     "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]}}


NODE_A = UserInfo("system:node:a", ("system:nodes",))


@pytest.mark.parametrize(
    ("verb", "claim", "subresource", "allowed"),
    [
        ("get", "data-a", "", True),
        ("patch", "data-a", "", False),  # binding is the controller-manager's
        ("patch", "data-a", "status", False),
        ("delete", "data-a", "", False),
        ("get", "data-b", "", False),  # claim of a pod on another node
        ("patch", "data-b", "", False),
        ("list", "", "", False),
    ],
)
def test_node_may_read_only_claims_of_its_pods(
        verb: str, claim: str, subresource: str, allowed: bool) -> None:
    authorizer = NodeAuthorizer(_Caches([_pod("p1", "a", "data-a"),  # type: ignore[arg-type]
                                         _pod("p2", "b", "data-b")]))
    attrs = Attributes(verb=verb, resource="persistentvolumeclaims", subresource=subresource,
                       namespace="ns", name=claim)
    assert authorizer.decide(NODE_A, attrs) is allowed


def _pv(name: str, node: str) -> dict[str, Any]:
    term = {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                                  "values": [node]}]}
    return {"metadata": {"name": name},
            "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [term]}}}}


@pytest.mark.parametrize(
    ("verb", "volume", "allowed"),
    [
        ("patch", "pv-a", True),  # dropping the local-path data finalizer
        ("update", "pv-a", True),
        ("patch", "pv-b", False),  # pinned to another node
        ("patch", "pv-none", False),  # not in the cache
        ("delete", "pv-a", False),
        ("create", "", False),  # provisioning is the controller-manager's
        ("get", "pv-b", None),  # reads: RBAC's system:node role
    ],
)
def test_node_may_write_only_volumes_pinned_to_it(verb: str, volume: str,
                                                  allowed: bool | None) -> None:
    caches = _Caches([], (_pv("pv-a", "a"), _pv("pv-b", "b")))
    authorizer = NodeAuthorizer(caches)  # type: ignore[arg-type]
    attrs = Attributes(verb=verb, resource="persistentvolumes", name=volume)
    assert authorizer.decide(NODE_A, attrs) is allowed
