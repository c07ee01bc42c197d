"""``TokenRequest``: ``POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token``.

Issues a ServiceAccount JWT signed with the private ``--service-account-key-file`` (``kubectl
create token``; kubelets use it for pods' projected tokens). A node may request tokens only for
ServiceAccounts that pods bound to it run as (the Node authorizer), and only bound to such a pod
(NodeRestriction); others need RBAC ``create`` on ``serviceaccounts/token``.

As upstream, a token carries the ServiceAccount's uid and, when ``boundObjectRef`` names a Pod
or Secret, that object's name and uid; without ``audiences`` it is issued for the apiserver's
own (``--api-audiences``, default the issuer). :mod:`.satokens` checks all of it on every use.
"""

from __future__ import annotations

import datetime
import re

from aiohttp import web

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver import tokens
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.codec import decode_object, json_response, media_type
from kboot.controlplane.apiserver.errors import (
    JsonObj,
    StatusError,
    bad_request,
    conflict,
    forbidden,
)
from kboot.controlplane.apiserver.state import ServerState

PATH_RE = re.compile(r"^/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)/token$")
DEFAULT_SECONDS = 3600
MIN_SECONDS, MAX_SECONDS = 600, 2**32


def _expiration(spec: JsonObj) -> int:
    seconds = spec.get("expirationSeconds", DEFAULT_SECONDS)
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not (
            MIN_SECONDS <= seconds <= MAX_SECONDS):
        raise StatusError(422, "Invalid", "TokenRequest is invalid: spec.expirationSeconds: "
                       "Invalid value: may not specify a duration less than 10 minutes",
                       details={"causes": [{"reason": "FieldValueInvalid",
                                            "field": "spec.expirationSeconds",
                                            "message": "must be at least 600"}]})
    return seconds


def _audiences(spec: JsonObj, default: tuple[str, ...]) -> list[str]:
    """The requested audiences; none requested: the apiserver's own (upstream's default)."""
    value = spec.get("audiences")
    if value is None:
        return list(default)
    if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
        raise _invalid("spec.audiences", "must be a list of non-empty strings")
    return list(value) or list(default)


def _invalid(field: str, message: str) -> StatusError:
    return StatusError(422, "Invalid", f"TokenRequest is invalid: {field}: {message}",
                    details={"causes": [{"reason": "FieldValueInvalid", "field": field,
                                         "message": message}]})


def _node_forbidden(account: str, why: str) -> StatusError:
    return forbidden("serviceaccounts", "", account,
                     f'serviceaccounts "{account}" is forbidden: {why}')


async def _bound_object(state: ServerState, namespace: str, account: str, user: UserInfo,
                        spec: JsonObj) -> tuple[str, tuple[str, str]] | None:
    """``("pod"|"secret", (name, uid))`` of ``spec.boundObjectRef``, checked as upstream: the
    object exists (404), a pod runs as this ServiceAccount (400), a given uid is the live
    object's (409 — it was deleted and recreated). A node may only ask for tokens bound to a
    pod scheduled on it (NodeRestriction)."""
    ref = spec.get("boundObjectRef")
    if ref is None:
        if user.node_name is not None:
            raise _node_forbidden(account, "node requested token not bound to a pod")
        return None
    if not isinstance(ref, dict):
        raise _invalid("spec.boundObjectRef", "must be an object")
    ref_kind, name = ref.get("kind"), ref.get("name")
    plural = {"Pod": "pods", "Secret": "secrets"}.get(str(ref_kind))
    if plural is None or ref.get("apiVersion", "v1") != "v1":
        raise bad_request(f"cannot bind token to object of type {ref.get('apiVersion')}, "
                          f"Kind={ref_kind}")
    if not isinstance(name, str) or not name:
        raise _invalid("spec.boundObjectRef.name", "Required value")
    kind = lookup("", plural)
    assert kind is not None
    obj = await state.storage.get(kind, namespace, name)
    spec_of = obj.get("spec") or {}
    if plural == "pods" and (spec_of.get("serviceAccountName") or "default") != account:
        raise bad_request(f'cannot bind token for serviceaccount "{account}" to pod running '
                          "with different serviceaccount name.")
    if user.node_name is not None and plural != "pods":
        raise _node_forbidden(account, "node requested token not bound to a pod")
    if user.node_name is not None and spec_of.get("nodeName") != user.node_name:
        raise _node_forbidden(account, "node requested token bound to a pod scheduled on a "
                              "different node")
    uid = str(obj["metadata"].get("uid", ""))
    if ref.get("uid") and ref["uid"] != uid:
        raise conflict(kind, name, f"the UID in the bound object reference ({ref['uid']}) does "
                       "not match the UID in record. The object might have been deleted and "
                       "then recreated")
    return ("pod" if plural == "pods" else "secret"), (name, uid)


async def token_request(state: ServerState, namespace: str, name: str,
                        request: web.Request, user: UserInfo) -> web.Response:
    if state.sa_signing_key is None:
        raise StatusError(503, "ServiceUnavailable", "token signing is not configured: "
                       "--service-account-key-file must hold a private key")
    raw = await request.read()
    body = decode_object(raw, media_type(request))[0] if raw.strip() else {}
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise bad_request("spec must be an object")
    accounts = lookup("", "serviceaccounts")
    assert accounts is not None
    account = await state.storage.get(accounts, namespace, name)
    seconds = _expiration(spec)
    policy = state.authenticator.token_policy
    audiences = _audiences(spec, policy.api_audiences)
    bound = await _bound_object(state, namespace, name, user, spec)
    now = state.clock.now()
    token = tokens.issue(state.sa_signing_key, namespace=namespace, name=name, now=now.timestamp(),
                         uid=account["metadata"].get("uid", ""), expires_in=seconds,
                         audiences=audiences, issuer=policy.issuer,
                         pod=bound[1] if bound and bound[0] == "pod" else None,
                         secret=bound[1] if bound and bound[0] == "secret" else None)
    out_spec = {**spec, "audiences": audiences, "expirationSeconds": seconds}
    if bound is not None:
        out_spec["boundObjectRef"] = {**spec["boundObjectRef"], "uid": bound[1][1]}
    expires = now + datetime.timedelta(seconds=seconds)
    return json_response({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                          "metadata": {"name": name, "namespace": namespace,
                                       "creationTimestamp": None},
                          "spec": out_spec,
                          "status": {"token": token, "expirationTimestamp":
                                     expires.strftime("%Y-%m-%dT%H:%M:%SZ")}}, 201)
