"""RBAC set-up for the security acceptance tests: grants made by the admin, and waits until the
server's authorizer sees them (RBAC is read from the watch cache, which trails a write by a few
milliseconds; every wait polls a SelfSubjectAccessReview for a stated condition)."""

from __future__ import annotations

from typing import Any

from tests import waiting
from tests.fixtures.apiserver import ApiServer, Identity
from tests.integration.apiserver.http import Reply, call

RBAC = "/apis/rbac.authorization.k8s.io/v1"
RBAC_GROUP = "rbac.authorization.k8s.io"
ESCALATION = "is attempting to grant RBAC permissions not currently held"
WAIT_SECONDS = 10.0


def rule(verbs: list[str], resources: list[str], groups: list[str] | None = None,
         names: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"apiGroups": groups if groups is not None else [""],
                           "resources": resources, "verbs": verbs}
    if names:
        out["resourceNames"] = names
    return out


def role_path(ns: str | None, plural: str) -> str:
    return f"{RBAC}/namespaces/{ns}/{plural}" if ns else f"{RBAC}/{plural}"


def admin_create(server: ApiServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = call(server, "POST", path, body)
    assert reply.status == 201, reply.body
    assert isinstance(reply.body, dict)
    return reply.body


def binding(name: str, role_kind: str, role: str, user: str,
            subject_kind: str = "User") -> dict[str, Any]:
    subject: dict[str, Any] = {"kind": subject_kind, "name": user}
    if subject_kind != "ServiceAccount":
        subject["apiGroup"] = RBAC_GROUP
    return {"metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role},
            "subjects": [subject]}


def grant(server: ApiServer, ns: str | None, name: str, user: str,
          rules: list[dict[str, Any]]) -> None:
    """A Role (ClusterRole when ``ns`` is None) with ``rules``, bound to ``user`` by the admin."""
    kind = "Role" if ns else "ClusterRole"
    admin_create(server, role_path(ns, "roles" if ns else "clusterroles"),
                 {"metadata": {"name": name}, "rules": rules})
    admin_create(server, role_path(ns, "rolebindings" if ns else "clusterrolebindings"),
                 binding(name, kind, name, user))


def can(server: ApiServer, who: Identity, verb: str, resource: str, *, ns: str = "",
        group: str = "", name: str = "") -> bool:
    reply = call(server, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                 {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": {"verb": verb, "resource": resource,
                                                  "group": group, "namespace": ns,
                                                  "name": name}}},
                 identity=who)
    assert reply.status == 201, reply.body
    return bool(reply.body["status"]["allowed"])


def wait_until(check: Any, what: str, timeout: float = WAIT_SECONDS) -> None:
    """Poll ``check()`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    waiting.wait_until(what, check, timeout=timeout, interval=0.05)


def wait_can(server: ApiServer, who: Identity, verb: str, resource: str, **kw: str) -> None:
    wait_until(lambda: can(server, who, verb, resource, **kw),
               f"{who.name} may {verb} {resource} {kw}")


def assert_escalation_refused(reply: Reply, plural: str, name: str) -> str:
    """A 403 with upstream's escalation wording for ``<plural>.rbac… "<name>"``; the message."""
    assert reply.status == 403, reply.body
    message = str(reply.body["message"])
    assert reply.body["reason"] == "Forbidden"
    assert message.startswith(f'{plural}.{RBAC_GROUP} "{name}" is forbidden: user '), message
    assert ESCALATION in message, message
    return message
