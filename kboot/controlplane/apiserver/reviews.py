"""``SelfSubjectAccessReview`` (``kubectl auth can-i``): may the caller do this?

Served at ``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`` for every
authenticated user (upstream grants it through ``system:basic-user``); the answer comes from
the same Node+RBAC authorizer that guards real requests.
"""

from __future__ import annotations

from aiohttp import web

from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.authz import Attributes
from kboot.controlplane.apiserver.codec import decode_object, json_response, media_type
from kboot.controlplane.apiserver.errors import bad_request
from kboot.controlplane.apiserver.state import ServerState

PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


async def self_subject_access_review(state: ServerState, user: UserInfo,
                                     request: web.Request) -> web.Response:
    body, _ = decode_object(await request.read(), media_type(request))
    spec = body.get("spec") or {}
    resource = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    if isinstance(resource, dict):
        attrs = Attributes(verb=str(resource.get("verb", "")),
                           group=str(resource.get("group", "")),
                           resource=str(resource.get("resource", "")),
                           subresource=str(resource.get("subresource", "")),
                           namespace=str(resource.get("namespace", "")),
                           name=str(resource.get("name", "")))
    elif isinstance(non_resource, dict):
        attrs = Attributes(verb=str(non_resource.get("verb", "")),
                           path=str(non_resource.get("path", "")))
    else:
        raise bad_request("spec.resourceAttributes or spec.nonResourceAttributes is required")
    decision = state.authorizer.authorize(user, attrs)
    status: dict[str, object] = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return json_response({"kind": "SelfSubjectAccessReview",
                          "apiVersion": "authorization.k8s.io/v1",
                          "metadata": {"creationTimestamp": None}, "spec": spec,
                          "status": status}, 201)
