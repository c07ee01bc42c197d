"""The Node authorizer: a kubelet may read and bind only the claims its own pods use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.authz import Attributes
from kboot.controlplane.apiserver.nodeauth import NodeAuthorizer

PODS = lookup("", "pods")


@dataclass
class _Cache:
    objects: dict[str, Any] = field(default_factory=dict)


class _Caches:
    def __init__(self, pods: list[dict[str, Any]]) -> None:
        assert PODS is not None
        self.cache = _Cache({PODS.key(p["metadata"]["namespace"], p["metadata"]["name"]): p
                             for p in pods})

    def peek(self, _kind: object) -> _Cache:
        return self.cache


def _pod(name: str, node: str, claim: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}],
                     "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]}}


NODE_A = UserInfo("system:node:a", ("system:nodes",))


@pytest.mark.parametrize(
    ("verb", "claim", "subresource", "allowed"),
    [
        ("get", "data-a", "", True),
        ("patch", "data-a", "", True),  # local-path binding: spec.volumeName
        ("patch", "data-a", "status", True),  # and status.phase
        ("delete", "data-a", "", False),
        ("get", "data-b", "", False),  # claim of a pod on another node
        ("patch", "data-b", "", False),
        ("list", "", "", False),
    ],
)
def test_node_may_bind_only_claims_of_its_pods(
        verb: str, claim: str, subresource: str, allowed: bool) -> None:
    authorizer = NodeAuthorizer(_Caches([_pod("p1", "a", "data-a"),  # type: ignore[arg-type]
                                         _pod("p2", "b", "data-b")]))
    attrs = Attributes(verb=verb, resource="persistentvolumeclaims", subresource=subresource,
                       namespace="ns", name=claim)
    assert authorizer.decide(NODE_A, attrs) is allowed
