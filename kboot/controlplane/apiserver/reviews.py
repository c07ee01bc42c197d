"""``SelfSubjectAccessReview`` (``kubectl auth can-i``): may the caller do this? And
``SelfSubjectReview`` (``kubectl auth whoami``): who is the caller? And
``SelfSubjectRulesReview`` (``kubectl auth can-i --list``): what may the caller do here?

Served at ``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`` for every
authenticated user (upstream grants it through ``system:basic-user``); the answer comes from
the same Node+RBAC authorizer that guards real requests.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kboot.controlplane.api.field_errors import TYPE_INVALID, FieldError, invalid
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.authz import Attributes
from kboot.controlplane.apiserver.bodies import invalid_body
from kboot.controlplane.apiserver.codec import json_response
from kboot.controlplane.apiserver.crud import read_object_body
from kboot.controlplane.apiserver.state import ServerState

PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
WHOAMI_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
RULES_PATH = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"


_RESOURCE_FIELDS = ("verb", "group", "version", "resource", "subresource", "namespace", "name")
_NON_RESOURCE_FIELDS = ("verb", "path")


def _strings(value: Any, path: str, names: tuple[str, ...]) -> list[FieldError]:
    if not isinstance(value, dict):
        return [FieldError(TYPE_INVALID, path, "must be of type object", value)]
    return [FieldError(TYPE_INVALID, f"{path}.{k}", "must be of type string", value[k])
            for k in names if value.get(k) is not None and not isinstance(value[k], str)]


def _attributes(spec: Any) -> Attributes:
    """The ``spec`` as authorizer attributes; 422 naming the field for a malformed one."""
    if not isinstance(spec, dict):
        raise invalid_body("SelfSubjectAccessReview", "", [FieldError(
            TYPE_INVALID if spec is not None else "FieldValueRequired", "spec",
            "must be of type object", spec)], group="authorization.k8s.io")
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    errors: list[FieldError] = []
    if resource is not None:
        errors += _strings(resource, "spec.resourceAttributes", _RESOURCE_FIELDS)
    if non_resource is not None:
        errors += _strings(non_resource, "spec.nonResourceAttributes", _NON_RESOURCE_FIELDS)
    if resource is not None and non_resource is not None:
        errors.append(invalid("spec.nonResourceAttributes", non_resource, "cannot be specified "
                              "in combination with resourceAttributes"))
    if resource is None and non_resource is None:
        errors.append(invalid("spec.resourceAttributes", None, "exactly one of "
                              "nonResourceAttributes or resourceAttributes must be specified"))
    if errors:
        raise invalid_body("SelfSubjectAccessReview", "", errors, group="authorization.k8s.io")
    if isinstance(resource, dict):
        return Attributes(**{k: resource.get(k) or "" for k in _RESOURCE_FIELDS
                             if k != "version"})
    assert isinstance(non_resource, dict)
    return Attributes(verb=non_resource.get("verb") or "", path=non_resource.get("path") or "")


async def self_subject_access_review(state: ServerState, user: UserInfo,
                                     request: web.Request) -> web.Response:
    body, _ = await read_object_body(request)
    spec = body.get("spec")
    attrs = _attributes(spec)
    decision = state.authorizer.authorize(user, attrs)
    status: dict[str, object] = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return json_response({"kind": "SelfSubjectAccessReview",
                          "apiVersion": "authorization.k8s.io/v1",
                          "metadata": {"creationTimestamp": None}, "spec": spec,
                          "status": status}, 201)


async def self_subject_review(user: UserInfo, request: web.Request) -> web.Response:
    """``kubectl auth whoami``: the caller's identity as the server sees it (after
    impersonation). The body (JSON or, from kubectl, protobuf) carries nothing to act on, so
    it is drained, never decoded."""
    await request.read()
    return json_response({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                          "metadata": {"creationTimestamp": None},
                          "status": {"userInfo": user.to_json()}}, 201)


def _rules_status(rules: list[dict[str, Any]], incomplete: bool) -> dict[str, object]:
    """RBAC rules split as ``SubjectRulesReviewStatus`` wants them."""
    resource = [{k: r[k] for k in ("verbs", "apiGroups", "resources", "resourceNames") if r.get(k)}
                for r in rules if r.get("resources")]
    non_resource = [{"verbs": r.get("verbs") or [], "nonResourceURLs": r["nonResourceURLs"]}
                    for r in rules if r.get("nonResourceURLs")]
    return {"resourceRules": resource, "nonResourceRules": non_resource,
            "incomplete": incomplete}


async def self_subject_rules_review(state: ServerState, user: UserInfo,
                                    request: web.Request) -> web.Response:
    """The RBAC rules the caller holds in ``spec.namespace`` (cluster-wide ones included), as
    upstream's RulesFor; ``incomplete`` for a node, whose Node-authorizer rights depend on its
    pods and are not listed."""
    body, _ = await read_object_body(request)
    spec = body.get("spec")
    namespace = spec.get("namespace") if isinstance(spec, dict) else None
    if not isinstance(namespace, str):
        raise invalid_body("SelfSubjectRulesReview", "", [FieldError(
            TYPE_INVALID, "spec.namespace", "must be of type string", namespace)],
            group="authorization.k8s.io")
    rules = state.authorizer.rbac.rules_for(user, namespace)
    return json_response({"kind": "SelfSubjectRulesReview",
                          "apiVersion": "authorization.k8s.io/v1",
                          "metadata": {"creationTimestamp": None}, "spec": spec,
                          "status": _rules_status(rules, user.node_name is not None)}, 201)
