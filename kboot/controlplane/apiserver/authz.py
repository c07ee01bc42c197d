"""Authorization: the Node authorizer, then RBAC (``--authorization-mode=Node,RBAC``).

RBAC reads Roles, ClusterRoles and their bindings from the watch cache, so changes take effect as
soon as the cache sees them; per-user rule sets are memoised and the memo is dropped whenever
any RBAC cache moves. The ``system:masters`` group is the superuser group, as upstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.nodeauth import NodeAuthorizer
from kboot.controlplane.apiserver.watchcache import WatchCaches

JsonObj = dict[str, Any]


@dataclass(frozen=True)
class Attributes:
    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # for non-resource requests

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def _subject_matches(subject: JsonObj, user: UserInfo, binding_ns: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name == user.name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return user.name == f"system:serviceaccount:{ns}:{name}"
    return False


def _match(values: list[str] | None, wanted: str) -> bool:
    return bool(values) and ("*" in values or wanted in values)  # type: ignore[operator]


def rule_allows(rule: JsonObj, attrs: Attributes) -> bool:
    if not _match(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.is_resource:
        return any(u == attrs.path or (u.endswith("*") and attrs.path.startswith(u[:-1]))
                   for u in rule.get("nonResourceURLs") or [])
    if not _match(rule.get("apiGroups"), attrs.group):
        return False
    resources = rule.get("resources") or []
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    if not ("*" in resources or combined in resources
            or (attrs.subresource and f"*/{attrs.subresource}" in resources)):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


class RbacAuthorizer:
    def __init__(self, caches: WatchCaches) -> None:
        self.caches = caches
        self.kinds = [lookup("rbac.authorization.k8s.io", p) for p in
                      ("roles", "rolebindings", "clusterroles", "clusterrolebindings")]
        self.memo: dict[UserInfo, list[tuple[str, list[JsonObj]]]] = {}
        self.memo_key: tuple[int, ...] = ()

    def _objects(self, index: int) -> dict[str, JsonObj]:
        kind = self.kinds[index]
        assert kind is not None
        return self.caches.peek(kind).objects

    def _rules_for(self, user: UserInfo) -> list[tuple[str, list[JsonObj]]]:
        """(namespace or "" for cluster-wide, rules) granted to ``user``."""
        key = tuple(self.caches.peek(k).revision for k in self.kinds if k is not None)
        if key != self.memo_key:
            self.memo, self.memo_key = {}, key
        if user in self.memo:
            return self.memo[user]
        roles, bindings, cluster_roles, cluster_bindings = (self._objects(i) for i in range(4))
        granted: list[tuple[str, list[JsonObj]]] = []
        for b in cluster_bindings.values():
            if any(_subject_matches(s, user, "") for s in b.get("subjects") or []):
                role = cluster_roles.get(f"/registry/clusterroles/{b['roleRef']['name']}")
                if role:
                    granted.append(("", role.get("rules") or []))
        for b in bindings.values():
            ns = b["metadata"].get("namespace", "")
            if not any(_subject_matches(s, user, ns) for s in b.get("subjects") or []):
                continue
            ref = b.get("roleRef") or {}
            role = (cluster_roles.get(f"/registry/clusterroles/{ref.get('name')}")
                    if ref.get("kind") == "ClusterRole"
                    else roles.get(f"/registry/roles/{ns}/{ref.get('name')}"))
            if role:
                granted.append((ns, role.get("rules") or []))
        self.memo[user] = granted
        return granted

    def authorize(self, user: UserInfo, attrs: Attributes) -> bool:
        for ns, rules in self._rules_for(user):
            if ns and (not attrs.is_resource or ns != attrs.namespace):
                continue
            if any(rule_allows(r, attrs) for r in rules):
                return True
        return False


class Authorizer:
    """Node authorizer, then RBAC; ``system:masters`` always allowed."""

    def __init__(self, caches: WatchCaches) -> None:
        self.rbac = RbacAuthorizer(caches)
        self.node = NodeAuthorizer(caches)

    def authorize(self, user: UserInfo, attrs: Attributes) -> Decision:
        if "system:masters" in user.groups:
            return Decision(True)
        verdict = self.node.decide(user, attrs)
        if verdict is not None:
            return Decision(verdict, "" if verdict else "node authorizer: not allowed")
        return Decision(self.rbac.authorize(user, attrs))
