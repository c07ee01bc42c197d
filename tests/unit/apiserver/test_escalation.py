"""The escalation guard as data: who writes which RBAC object over which grants."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from kboot.controlplane.api.registry import ResourceKind, lookup
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.authz import Authorizer
from kboot.controlplane.apiserver.errors import StatusError
from kboot.controlplane.apiserver.escalation import guard

G = "rbac.authorization.k8s.io"


def _kind(group: str, plural: str) -> ResourceKind:
    kind = lookup(group, plural)
    assert kind is not None
    return kind


@dataclass
class _Cache:
    objects: dict[str, Any] = field(default_factory=dict)
    revision: int = 1


class _Caches:
    """Just enough of WatchCaches for the authorizers: ``peek(kind)``."""

    def __init__(self, objects: list[tuple[str, dict[str, Any]]]) -> None:
        self.caches: dict[str, _Cache] = {}
        for plural, obj in objects:
            kind = _kind(G, plural)
            meta = obj["metadata"]
            self.caches.setdefault(plural, _Cache()).objects[
                kind.key(meta.get("namespace"), meta["name"])] = obj

    def peek(self, kind: ResourceKind) -> _Cache:
        return self.caches.setdefault(kind.plural, _Cache())


def _rule(verbs: list[str], resources: list[str], groups: list[str] | None = None,
          names: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"apiGroups": groups or [""], "resources": resources, "verbs": verbs}
    if names:
        out["resourceNames"] = names
    return out


def _bound(ns: str | None, rules: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """A role with ``rules`` bound to the user ``me`` (cluster-wide when ``ns`` is None)."""
    ref_kind, role_plural, binding_plural = (("Role", "roles", "rolebindings") if ns else
                                             ("ClusterRole", "clusterroles",
                                              "clusterrolebindings"))
    name = f"grant-{len(rules)}-{ns}"
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return [(role_plural, {"metadata": meta, "rules": rules}),
            (binding_plural, {"metadata": meta, "roleRef": {"apiGroup": G, "kind": ref_kind,
                                                             "name": name},
                              "subjects": [{"kind": "User", "name": "me"}]})]


CLUSTER_ADMIN = ("clusterroles", {"metadata": {"name": "cluster-admin"},
                                  "rules": [_rule(["*"], ["*"], ["*"]),
                                            {"nonResourceURLs": ["*"], "verbs": ["*"]}]})
ME = UserInfo("me", ("system:authenticated",))


def _binding(ref_kind: str, ref_name: str) -> dict[str, Any]:
    return {"metadata": {"name": "b"}, "roleRef": {"apiGroup": G, "kind": ref_kind,
                                                   "name": ref_name},
            "subjects": [{"kind": "User", "name": "me"}]}


CASES: list[tuple[str, list[tuple[str, dict[str, Any]]], str, str | None, dict[str, Any],
                  bool]] = [
    ("binding to cluster-admin", _bound("ns", [_rule(["create"], ["rolebindings"], [G])]),
     "rolebindings", "ns", _binding("ClusterRole", "cluster-admin"), False),
    ("bind by name", _bound("ns", [_rule(["bind"], ["clusterroles"], [G], ["cluster-admin"])]),
     "rolebindings", "ns", _binding("ClusterRole", "cluster-admin"), True),
    ("bind on another name", _bound("ns", [_rule(["bind"], ["clusterroles"], [G], ["view"])]),
     "rolebindings", "ns", _binding("ClusterRole", "cluster-admin"), False),
    ("bind in another namespace", _bound("other", [_rule(["bind"], ["clusterroles"], [G])]),
     "rolebindings", "ns", _binding("ClusterRole", "cluster-admin"), False),
    ("namespaced grant does not make a cluster binding", _bound("ns", [_rule(["*"], ["*"],
                                                                            ["*"])]),
     "clusterrolebindings", None, _binding("ClusterRole", "cluster-admin"), False),
    ("role within grants", _bound("ns", [_rule(["get", "list"], ["pods"])]),
     "roles", "ns", {"metadata": {"name": "r"}, "rules": [_rule(["get"], ["pods"])]}, True),
    ("role beyond grants", _bound("ns", [_rule(["get"], ["pods"])]),
     "roles", "ns", {"metadata": {"name": "r"}, "rules": [_rule(["delete"], ["pods"])]},
     False),
    ("role in another namespace than the grant", _bound("other", [_rule(["get"], ["pods"])]),
     "roles", "ns", {"metadata": {"name": "r"}, "rules": [_rule(["get"], ["pods"])]}, False),
    ("cluster grant covers a namespaced role", _bound(None, [_rule(["get"], ["pods"])]),
     "roles", "ns", {"metadata": {"name": "r"}, "rules": [_rule(["get"], ["pods"])]}, True),
    ("escalate", _bound("ns", [_rule(["escalate"], ["roles"], [G])]),
     "roles", "ns", {"metadata": {"name": "r"}, "rules": [_rule(["*"], ["*"], ["*"])]}, True),
    ("aggregationRule without full authority", _bound(None, [_rule(["create"],
                                                                   ["clusterroles"], [G])]),
     "clusterroles", None, {"metadata": {"name": "agg"}, "rules": [],
                            "aggregationRule": {"clusterRoleSelectors": [{}]}}, False),
    ("* on * includes the escalate verb", _bound(None, [_rule(["*"], ["*"], ["*"])]),
     "clusterroles", None, {"metadata": {"name": "agg"}, "rules": [],
                            "aggregationRule": {"clusterRoleSelectors": [{}]}}, True),
]


@pytest.mark.parametrize(("grants", "plural", "ns", "obj", "allowed"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_guard(grants: list[tuple[str, dict[str, Any]]], plural: str, ns: str | None,
               obj: dict[str, Any], allowed: bool) -> None:
    authorizer = Authorizer(_Caches([CLUSTER_ADMIN, *grants]))  # type: ignore[arg-type]
    try:
        guard(authorizer, ME, _kind(G, plural), namespace=ns, url_name=None, new=obj, old=None)
    except StatusError as err:
        assert not allowed, err.message
        assert err.code == 403
    else:
        assert allowed


def test_superusers_and_other_kinds_are_not_checked() -> None:
    authorizer = Authorizer(_Caches([CLUSTER_ADMIN]))  # type: ignore[arg-type]
    root = UserInfo("root", ("system:masters",))
    guard(authorizer, root, _kind(G, "clusterrolebindings"), namespace=None, url_name=None,
          new=_binding("ClusterRole", "cluster-admin"), old=None)
    guard(authorizer, ME, _kind("", "configmaps"), namespace="ns", url_name=None,
          new={"metadata": {"name": "c"}}, old=None)
