"""PATCH: JSON merge, JSON patch, strategic merge, and server-side apply (reference §7).

The patch is applied to the current object inside the guarded update, so a storage conflict
simply re-reads and re-applies it. A patch that sets ``metadata.resourceVersion`` makes it a
precondition (409 on mismatch, no retry), like upstream. Apply (``application/apply-patch+yaml``)
upserts: a missing object is created from the applied configuration.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from kboot.controlplane.api import patch as patches
from kboot.controlplane.api.errors import ApiRuleError
from kboot.controlplane.apiserver import admission, rules
from kboot.controlplane.apiserver.admission import WriteOptions
from kboot.controlplane.apiserver.codec import json_response, media_type, read_decoded
from kboot.controlplane.apiserver.crud import (
    PATCH_TYPES as PATCH_TYPES,  # re-exported: handlers of patchable subresources use it
)
from kboot.controlplane.apiserver.crud import (
    create_object,
    update_with_allocation,
    warning_headers,
)
from kboot.controlplane.apiserver.errors import (
    JsonObj,
    StatusError,
    bad_request,
    conflict,
    unsupported_media,
)
from kboot.controlplane.apiserver.state import Scope, ServerState


def rule_error(err: ApiRuleError) -> StatusError:
    details = None
    message = err.message
    causes = getattr(err, "causes", None)
    if causes:
        details = {"causes": [{"reason": "FieldManagerConflict", "message":
                               f'conflict with "{c.manager}"', "field": c.field}
                              for c in causes]}
    elif isinstance(err, patches.PatchError) and err.field:  # a patch that cannot apply here
        message = f"{err.field}: {err.message}"
        details = {"causes": [{"reason": "FieldValueInvalid", "message": err.message,
                               "field": err.field}]}
    return StatusError(err.code, err.reason, message, details=details)


def _apply_patch(kind: Any, media: str, current: JsonObj, body: Any) -> JsonObj:
    try:
        if media == "application/json-patch+json":
            result = patches.json_patch(current, body)
        elif media == "application/merge-patch+json":
            result = patches.json_merge_patch(current, body)
        else:
            result = patches.strategic_merge_patch(kind, current, body)
    except ApiRuleError as err:
        raise rule_error(err) from None
    if not isinstance(result, dict):
        raise bad_request("the patch produced a document that is not an object")
    return result


async def patch(state: ServerState, scope: Scope, request: web.Request) -> web.Response:
    target, kind = scope.target, scope.target.kind
    assert target.name is not None
    media = media_type(request)
    strategy = state.strategy(kind)
    if media not in PATCH_TYPES:
        raise unsupported_media(media)
    if media == "application/strategic-merge-patch+json" and not strategy.strategic_merge:
        raise StatusError(415, "UnsupportedMediaType", "the body of the request was in an "
                          "unknown format - accepted media types include: "
                          "application/json-patch+json, application/merge-patch+json, "
                          "application/apply-patch+yaml")
    decoded = await read_decoded(request)
    opts = scope.write_options()
    if media == "application/apply-patch+yaml":
        return await _server_side_apply(state, scope, decoded.value, decoded.duplicates, opts)
    if media == "application/json-patch+json":
        if not isinstance(decoded.value, list):
            raise bad_request("json patch must be a list of operations")
    elif not isinstance(decoded.value, dict):
        raise bad_request("the patch must be a JSON object")
    problems: list[str] = []

    def compute(current: JsonObj) -> JsonObj:
        patched = _apply_patch(kind, media, copy.deepcopy(current), decoded.value)
        admission.check_type(strategy, patched)  # also: metadata must still be an object
        rv = (patched.get("metadata") or {}).get("resourceVersion")
        if rv and str(rv) != current["metadata"].get("resourceVersion"):
            raise conflict(kind, target.name or "")
        problems[:] = admission.field_warnings(strategy, patched, decoded.duplicates, opts)
        return admission.admit_update(strategy, current, patched, subresource=target.subresource,
                                      opts=opts, now=state.clock.now())

    obj = await update_with_allocation(state, scope, compute, opts, warnings=problems)
    return json_response(obj, headers=warning_headers(problems))


def _apply_config(state: ServerState, scope: Scope, body: Any) -> JsonObj:
    """The applied configuration, checked against the URL (name, kind, fieldManager)."""
    target = scope.target
    if not isinstance(body, dict):
        raise bad_request("the apply configuration must be an object")
    if not scope.query.get("fieldManager"):
        raise bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required "
                          "value: is required for apply patch")
    admission.check_type(state.strategy(target.kind), body)
    meta = body.setdefault("metadata", {})
    if meta.get("name") not in (None, target.name):
        raise bad_request("the name of the object does not match the name on the URL")
    meta["name"] = target.name
    return body


def _applied(state: ServerState, scope: Scope, current: JsonObj | None, body: JsonObj,
             opts: WriteOptions) -> JsonObj:
    try:
        return rules.server_side_apply(scope.target.kind, current, body,
                                       manager=opts.field_manager, force=scope.flag("force"),
                                       now=state.clock.now(),
                                       subresource=scope.target.subresource)
    except ApiRuleError as err:
        raise rule_error(err) from None


async def _server_side_apply(state: ServerState, scope: Scope, raw: Any,
                             duplicates: list[str], opts: WriteOptions) -> web.Response:
    """Upsert: create from the configuration when absent, else merge with ownership."""
    target, kind = scope.target, scope.target.kind
    body = _apply_config(state, scope, raw)
    strategy = state.strategy(kind)
    problems = admission.field_warnings(strategy, body, duplicates, opts)
    if await state.storage.store.get(kind.key(target.namespace, target.name or "")) is None:
        try:
            obj, more = await create_object(state, scope, _applied(state, scope, None, body, opts),
                                            [],
                                            applied=True)
            return json_response(obj, 201, headers=warning_headers(problems + more))
        except StatusError as err:
            if err.reason != "AlreadyExists":  # created meanwhile: apply to it instead
                raise

    def compute(current: JsonObj) -> JsonObj:
        return admission.admit_update(strategy, current,
                                      _applied(state, scope, current, body, opts),
                                      subresource=target.subresource, opts=opts,
                                      now=state.clock.now(), manager_op="Apply")

    obj = await update_with_allocation(state, scope, compute, opts, warnings=problems)
    return json_response(obj, headers=warning_headers(problems))
