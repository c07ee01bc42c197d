"""``pods/ephemeralcontainers``: the one way to change ``spec.ephemeralContainers``.

As upstream: ``GET`` answers the Pod; ``PUT`` takes a Pod and ``PATCH`` (JSON, merge or
strategic merge — what ``kubectl debug`` sends) patches the Pod, and of the result only
``spec.ephemeralContainers`` is kept; the answer is the updated Pod. Validation
(:mod:`~kboot.controlplane.api.validation_ephemeral`) allows only additions. The pod's own
update rule forbids every other spec change, so the ordinary admission runs against the stored
pod with the new list already in place: everything else (metadata, status, defaults,
managedFields) is admitted exactly as for any pod update.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from kboot.controlplane.api import validation_ephemeral
from kboot.controlplane.apiserver import admission
from kboot.controlplane.apiserver.codec import decode, decode_object, json_response, media_type
from kboot.controlplane.apiserver.errors import (
    JsonObj,
    StatusError,
    conflict,
    invalid,
    method_not_allowed,
)
from kboot.controlplane.apiserver.patching import PATCH_TYPES, _apply_patch
from kboot.controlplane.apiserver.state import Scope, ServerState
from kboot.controlplane.apiserver.writes import guarded_update


async def handle(state: ServerState, scope: Scope, request: web.Request) -> web.Response:
    target, kind = scope.target, scope.target.kind
    assert target.name is not None
    if request.method == "GET":
        return json_response(await state.storage.get(kind, target.namespace, target.name))
    if request.method not in ("PUT", "PATCH"):
        raise method_not_allowed()
    raw, media = await request.read(), media_type(request)
    if request.method == "PATCH" and media not in PATCH_TYPES[:3]:
        raise StatusError(415, "UnsupportedMediaType",
                       f"unsupported patch type {media} on pods/ephemeralcontainers")
    body: Any = (decode_object(raw, media)[0] if request.method == "PUT"
                 else decode(raw, media).value)
    opts = scope.write_options()
    strategy = state.strategy(kind)

    def compute(current: JsonObj) -> JsonObj:
        if request.method == "PUT":
            admission.ensure_rv_matches(kind, body, current)
            incoming = body
        else:
            incoming = _apply_patch(kind, media, copy.deepcopy(current), body)
            rv = (incoming.get("metadata") or {}).get("resourceVersion")
            if rv and str(rv) != current["metadata"].get("resourceVersion"):
                raise conflict(kind, target.name or "")
        wanted = ((incoming.get("spec") or {}) if isinstance(incoming, dict) else {}).get(
            "ephemeralContainers")
        candidate = copy.deepcopy(current)
        candidate["spec"]["ephemeralContainers"] = wanted if isinstance(wanted, list) else []
        if not candidate["spec"]["ephemeralContainers"]:
            candidate["spec"].pop("ephemeralContainers")
        candidate = strategy.default(candidate)
        errors = validation_ephemeral.validate_update(candidate["spec"], current.get("spec") or {})
        if errors:
            raise invalid(kind, target.name or "", [e.cause() for e in errors])
        with_list = copy.deepcopy(current)
        with_list["spec"] = copy.deepcopy(candidate["spec"])
        return admission.admit_update(strategy, with_list, candidate,
                                      subresource="ephemeralcontainers", opts=opts,
                                      now=state.clock.now())

    obj = await guarded_update(state.storage, kind, target.namespace, target.name, compute,
                               dry_run=opts.dry_run)
    return json_response(obj)
