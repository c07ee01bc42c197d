"""RBAC escalation prevention: nobody grants a permission they do not hold themselves.

Upstream's rules (``pkg/registry/rbac``), applied to every create and update of the four RBAC
kinds, whatever the verb (POST, PUT, PATCH, server-side apply, dry run included):

- a Role or ClusterRole is written only when the writer already holds every rule it grants
  (for a Role: in the Role's namespace, through ClusterRoleBindings or RoleBindings there), or
  holds the ``escalate`` verb on ``roles``/``clusterroles``;
- a ClusterRole with an ``aggregationRule`` (set, changed or removed) needs full authority
  (``*`` on everything and every URL): it can gather any permission;
- a RoleBinding or ClusterRoleBinding is written only when the writer holds every rule of the
  referenced role (a RoleBinding's in its namespace), or holds ``bind`` on that role (by name,
  in the binding's namespace; a ClusterRoleBinding at the cluster scope);
- ``system:masters`` is exempt (the cluster's own loopback identity), and an update that only
  changes ``ownerReferences``/``finalizers`` (the garbage collector's work) is never an
  escalation.

Refusals are 403 ``Forbidden`` with upstream's text, e.g. ``rolebindings.rbac.authorization.k8s.io
"x" is forbidden: user "bob" (groups=["dev" "system:authenticated"]) is attempting to grant RBAC
permissions not currently held:`` followed by the missing rules, one per line.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kboot.controlplane.api import rbac
from kboot.controlplane.api.registry import ResourceKind, lookup
from kboot.controlplane.apiserver.attributes import Attributes
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.authz import RBAC_GROUP, SUPERUSER_GROUP, Authorizer
from kboot.controlplane.apiserver.errors import StatusError, forbidden, not_found

JsonObj = dict[str, Any]
ROLE_KINDS = ("roles", "clusterroles")
BINDING_KINDS = ("rolebindings", "clusterrolebindings")
FULL_AUTHORITY: list[JsonObj] = [
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    {"nonResourceURLs": ["*"], "verbs": ["*"]},
]
_GC_FIELDS = ("ownerReferences", "finalizers", "managedFields", "resourceVersion")


def guard(authorizer: Authorizer, user: UserInfo, kind: ResourceKind, *,
          namespace: str | None, url_name: str | None, new: JsonObj,
          old: JsonObj | None) -> None:
    """Raise 403 when writing ``new`` (over ``old``; None on create) would grant ``user``
    permissions it does not hold. No-op for other kinds and for ``system:masters``."""
    if kind.group != RBAC_GROUP or kind.plural not in ROLE_KINDS + BINDING_KINDS:
        return
    if SUPERUSER_GROUP in user.groups or _only_gc_fields(new, old):
        return
    ns = namespace or ""
    if kind.plural in ROLE_KINDS:
        _check_role(authorizer, user, kind, ns, url_name or "", new, old)
    else:
        _check_binding(authorizer, user, kind, ns, new)


def _only_gc_fields(new: JsonObj, old: JsonObj | None) -> bool:
    """Upstream's ``IsOnlyMutatingGCFields``: ``new`` equals ``old`` but for the metadata the
    garbage collector and the store maintain."""
    if old is None:
        return False
    stomped = copy.deepcopy(new)
    meta = stomped.setdefault("metadata", {})
    old_meta = old.get("metadata") or {}
    for field in _GC_FIELDS:
        meta.pop(field, None)
        if field in old_meta:
            meta[field] = old_meta[field]
    return bool(stomped == old)


def _check_role(authorizer: Authorizer, user: UserInfo, kind: ResourceKind, namespace: str,
                url_name: str, new: JsonObj, old: JsonObj | None) -> None:
    escalate = Attributes(verb="escalate", group=RBAC_GROUP, resource=kind.plural,
                          namespace=namespace, name=url_name)
    if authorizer.authorize(user, escalate).allowed:
        return
    name = _name(new)
    rules = [r for r in new.get("rules") or [] if isinstance(r, dict)]
    _confirm_held(authorizer, user, kind, name, namespace, rules)
    aggregated = rbac.aggregation_selectors(new) or (old and rbac.aggregation_selectors(old))
    if (kind.plural == "clusterroles" and aggregated
            and rbac.uncovered(authorizer.rbac.rules_for(user, ""), FULL_AUTHORITY)):
        raise _forbidden(kind, name, "must have cluster-admin privileges to use the "
                         "aggregationRule")


def _check_binding(authorizer: Authorizer, user: UserInfo, kind: ResourceKind, namespace: str,
                   new: JsonObj) -> None:
    raw_ref = new.get("roleRef")
    ref: JsonObj = raw_ref if isinstance(raw_ref, dict) else {}
    ref_kind, ref_name = ref.get("kind"), str(ref.get("name") or "")
    role_plural = {"ClusterRole": "clusterroles", "Role": "roles"}.get(str(ref_kind))
    if role_plural is None:
        raise _forbidden(kind, _name(new), f"unsupported role reference kind: {ref_kind!r}")
    bind = Attributes(verb="bind", group=str(ref.get("apiGroup") or RBAC_GROUP),
                      resource=role_plural, namespace=namespace, name=ref_name)
    if authorizer.authorize(user, bind).allowed:
        return
    rules = authorizer.rbac.role_ref_rules(ref, namespace)
    if rules is None:
        role_kind = lookup(RBAC_GROUP, role_plural)
        assert role_kind is not None
        raise not_found(role_kind, ref_name)
    _confirm_held(authorizer, user, kind, _name(new), namespace, rules)


def _confirm_held(authorizer: Authorizer, user: UserInfo, kind: ResourceKind, name: str,
                  namespace: str, rules: list[JsonObj]) -> None:
    """Upstream's ``ConfirmNoEscalation``: every rule is covered by what ``user`` holds."""
    missing = rbac.uncovered(authorizer.rbac.rules_for(user, namespace), rules)
    if missing:
        groups = "[" + " ".join(json.dumps(g) for g in user.groups) + "]"
        raise _forbidden(kind, name, f"user {json.dumps(user.name)} (groups={groups}) is "
                         "attempting to grant RBAC permissions not currently held:\n"
                         + rbac.describe_missing(missing))


def _name(obj: JsonObj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _forbidden(kind: ResourceKind, name: str, why: str) -> StatusError:
    return forbidden(kind.plural, kind.group, name,
                     f'{kind.plural}.{kind.group} "{name}" is forbidden: {why}')
