"""Authorization: the Node authorizer, then RBAC (``--authorization-mode=Node,RBAC``).

RBAC reads Roles, ClusterRoles and their bindings from the watch cache, so changes take effect as
soon as the cache sees them; per-user rule sets are memoised and the memo is dropped whenever
any RBAC cache moves. The ``system:masters`` group is the superuser group, as upstream.
An aggregated ClusterRole grants the rules of the ClusterRoles its ``aggregationRule`` selects
(:func:`kboot.controlplane.api.rbac.effective_rules`).

The same rule resolution serves the escalation guard (:mod:`.escalation`): :meth:`RbacAuthorizer.
rules_for` is what a user holds in a namespace, :meth:`RbacAuthorizer.role_ref_rules` what a
binding would grant.
"""

from __future__ import annotations

from typing import Any

from multidict import MultiMapping

from kboot.controlplane.api import names, rbac, selectors
from kboot.controlplane.api.registry import ResourceKind, lookup
from kboot.controlplane.apiserver.attributes import Attributes, Decision
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.nodeauth import NodeAuthorizer
from kboot.controlplane.apiserver.watchcache import WatchCaches

__all__ = ["Attributes", "Authorizer", "Decision", "RbacAuthorizer", "rule_allows",
           "selected_name"]

JsonObj = dict[str, Any]
RBAC_GROUP = "rbac.authorization.k8s.io"
SUPERUSER_GROUP = "system:masters"


def _subject_matches(subject: JsonObj, user: UserInfo, binding_ns: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name == user.name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return bool(ns) and user.name == f"system:serviceaccount:{ns}:{name}"
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


def selected_name(kind: ResourceKind, query: MultiMapping[str]) -> str:
    """The name a list or watch is authorized for: the ``metadata.name`` its *parsed* field
    selector pins (upstream's RequestInfo), so ``resourceNames`` rules apply to ``kubectl get
    pod x --watch``; "" when the selector does not parse, pins no name, or pins one that is not
    a valid path segment. The handlers parse the same text with the same parser, so what is
    authorized is exactly what is served."""
    try:
        fields = selectors.parse_field_selector(kind, query.get("fieldSelector"))
    except ValueError:
        return ""
    name = fields.value_for("metadata.name") or ""
    return "" if names.is_path_segment_name(name) else name


def _kind(plural: str) -> ResourceKind:
    kind = lookup(RBAC_GROUP, plural)
    assert kind is not None
    return kind


class RbacAuthorizer:
    def __init__(self, caches: WatchCaches) -> None:
        self.caches = caches
        self.roles, self.bindings, self.cluster_roles, self.cluster_bindings = (
            _kind(p) for p in ("roles", "rolebindings", "clusterroles", "clusterrolebindings"))
        self.memo: dict[UserInfo, list[tuple[str, list[JsonObj]]]] = {}
        self.memo_key: tuple[int, ...] = ()
        self.cluster_rules: dict[str, list[JsonObj]] = {}  # ClusterRole name → effective rules

    def _objects(self, kind: ResourceKind) -> dict[str, JsonObj]:
        return self.caches.peek(kind).objects

    def _refresh(self) -> None:
        """Drop the memos when any RBAC cache has moved since they were built."""
        key = tuple(self.caches.peek(k).revision for k in (
            self.roles, self.bindings, self.cluster_roles, self.cluster_bindings))
        if key != self.memo_key:
            self.memo, self.cluster_rules, self.memo_key = {}, {}, key

    def _cluster_role_rules(self, name: str) -> list[JsonObj] | None:
        self._refresh()
        if not self.cluster_rules:
            roles = {obj["metadata"]["name"]: obj
                     for obj in self._objects(self.cluster_roles).values()}
            self.cluster_rules = {n: rbac.effective_rules(n, roles) for n in roles}
        return self.cluster_rules.get(name)

    def role_ref_rules(self, ref: JsonObj, namespace: str) -> list[JsonObj] | None:
        """The rules a binding's ``roleRef`` grants (a Role is looked up in the binding's
        ``namespace``); None when the referenced role does not exist."""
        name = ref.get("name")
        if not isinstance(name, str) or not name:
            return None
        if ref.get("kind") == "ClusterRole":
            return self._cluster_role_rules(name)
        if ref.get("kind") == "Role" and namespace:
            role = self._objects(self.roles).get(self.roles.key(namespace, name))
            return None if role is None else [r for r in role.get("rules") or []
                                              if isinstance(r, dict)]
        return None

    def _granted(self, user: UserInfo) -> list[tuple[str, list[JsonObj]]]:
        """(namespace or "" for cluster-wide, rules) granted to ``user``."""
        self._refresh()
        if user in self.memo:
            return self.memo[user]
        granted: list[tuple[str, list[JsonObj]]] = []
        for b in self._objects(self.cluster_bindings).values():
            if any(_subject_matches(s, user, "") for s in b.get("subjects") or []):
                ref = {**(b.get("roleRef") or {}), "kind": "ClusterRole"}
                granted.append(("", self.role_ref_rules(ref, "") or []))
        for b in self._objects(self.bindings).values():
            ns = b["metadata"].get("namespace", "")
            if any(_subject_matches(s, user, ns) for s in b.get("subjects") or []):
                granted.append((ns, self.role_ref_rules(b.get("roleRef") or {}, ns) or []))
        self.memo[user] = granted
        return granted

    def rules_for(self, user: UserInfo, namespace: str) -> list[JsonObj]:
        """Every rule ``user`` holds in ``namespace`` ("" : cluster-wide rules only) — upstream's
        ``RulesFor``, the owner side of an escalation check."""
        return [rule for ns, rules in self._granted(user) if not ns or ns == namespace
                for rule in rules]

    def authorize(self, user: UserInfo, attrs: Attributes) -> bool:
        for ns, rules in self._granted(user):
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
        if SUPERUSER_GROUP in user.groups:
            return Decision(True)
        verdict = self.node.decide(user, attrs)
        if verdict is not None:
            return Decision(verdict, "" if verdict else "node authorizer: not allowed")
        return Decision(self.rbac.authorize(user, attrs))
