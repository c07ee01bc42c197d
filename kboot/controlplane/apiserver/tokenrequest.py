"""``TokenRequest``: ``POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token``.

Issues a ServiceAccount JWT signed with the private ``--service-account-key-file`` (``kubectl
create token``; kubelets use it for pods' projected tokens). A node may request tokens only for
ServiceAccounts that pods bound to it run as (the Node authorizer); others need RBAC ``create``
on ``serviceaccounts/token``.
"""

from __future__ import annotations

import datetime
import re

from aiohttp import web

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver import tokens
from kboot.controlplane.apiserver.codec import decode_object, json_response, media_type
from kboot.controlplane.apiserver.errors import ApiError, JsonObj, bad_request
from kboot.controlplane.apiserver.state import ServerState

PATH_RE = re.compile(r"^/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)/token$")
DEFAULT_SECONDS = 3600
MIN_SECONDS, MAX_SECONDS = 600, 2**32


def _expiration(spec: JsonObj) -> int:
    seconds = spec.get("expirationSeconds", DEFAULT_SECONDS)
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not (
            MIN_SECONDS <= seconds <= MAX_SECONDS):
        raise ApiError(422, "Invalid", "TokenRequest is invalid: spec.expirationSeconds: "
                       "Invalid value: may not specify a duration less than 10 minutes",
                       details={"causes": [{"reason": "FieldValueInvalid",
                                            "field": "spec.expirationSeconds",
                                            "message": "must be at least 600"}]})
    return seconds


async def token_request(state: ServerState, namespace: str, name: str,
                        request: web.Request) -> web.Response:
    if state.sa_signing_key is None:
        raise ApiError(503, "ServiceUnavailable", "token signing is not configured: "
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
    bound = spec.get("boundObjectRef") or {}
    pod = (str(bound.get("name", "")), str(bound.get("uid", ""))) if bound.get(
        "kind") == "Pod" else None
    token = tokens.issue(state.sa_signing_key, namespace=namespace, name=name,
                         uid=account["metadata"].get("uid", ""), expires_in=seconds,
                         audiences=[str(a) for a in spec.get("audiences") or []] or None,
                         pod=pod)
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
    return json_response({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                          "metadata": {"name": name, "namespace": namespace,
                                       "creationTimestamp": None},
                          "spec": {**spec, "expirationSeconds": seconds},
                          "status": {"token": token, "expirationTimestamp":
                                     expires.strftime("%Y-%m-%dT%H:%M:%SZ")}}, 201)
