"""Subresources other than status: ``scale``, ``pods/binding``, ``pods/eviction``; and the
kubelet-proxied ``pods/log``, ``pods/exec``, ``pods/attach`` (see :mod:`.kubeletproxy`);
``pods/ephemeralcontainers`` (see :mod:`.ephemeral`).

``scale`` is a view: ``autoscaling/v1 Scale`` with ``spec.replicas`` from the workload and
``status.selector`` rendered as a label-selector *string*; writing it writes the workload's
``spec.replicas`` through the same guarded update as any other write.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

from aiohttp import web

from kboot.controlplane.api import field_errors, validation
from kboot.controlplane.apiserver import admission, ephemeral, eviction, kubeletproxy
from kboot.controlplane.apiserver.bodies import invalid_body, typed_body
from kboot.controlplane.apiserver.codec import json_response, media_type, read_decoded
from kboot.controlplane.apiserver.crud import (
    PATCH_TYPES,
    delete_object,
    delete_options,
    read_object_body,
    warning_headers,
)
from kboot.controlplane.apiserver.errors import (
    JsonObj,
    StatusError,
    bad_request,
    conflict,
    invalid,
    method_not_allowed,
)
from kboot.controlplane.apiserver.patching import _apply_patch
from kboot.controlplane.apiserver.routing import Target
from kboot.controlplane.apiserver.state import Scope, ServerState
from kboot.controlplane.apiserver.strategy import Strategy
from kboot.controlplane.apiserver.webhooks import write as webhooks
from kboot.controlplane.apiserver.writes import guarded_update


async def handle(state: ServerState, scope: Scope, request: web.Request) -> web.StreamResponse:
    sub = scope.target.subresource
    if sub == "scale":
        return await _scale(state, scope, request)
    if sub == "binding" and request.method == "POST":
        return await _binding(state, scope, request)
    if sub == "eviction" and request.method == "POST":
        return await _eviction(state, scope, request)
    if sub == "log" and request.method == "GET":
        return await kubeletproxy.logs(state, scope, request)
    if sub in ("exec", "attach") and request.method in ("GET", "POST"):
        return await kubeletproxy.stream(state, scope, request)
    if sub == "ephemeralcontainers":
        return await ephemeral.handle(state, scope, request)
    raise method_not_allowed()


def _replicas(scale: JsonObj, name: str) -> int:
    """``spec.replicas`` of a typed Scale (absent: 0, as upstream's zero value)."""
    replicas: int = (scale.get("spec") or {}).get("replicas", 0)
    if replicas < 0:
        raise invalid_body("Scale", name, [field_errors.invalid(
            "spec.replicas", replicas, "must be greater than or equal to 0")],
            group="autoscaling")
    return replicas


async def _scale(state: ServerState, scope: Scope, request: web.Request) -> web.Response:
    target, kind = scope.target, scope.target.kind
    strategy = state.strategy(kind)
    assert target.name is not None
    if request.method == "GET":
        return json_response(strategy.to_scale(await state.storage.get(
            kind, target.namespace, target.name)))
    if request.method not in ("PUT", "PATCH"):
        raise method_not_allowed()
    media = media_type(request)
    if request.method == "PATCH" and media not in PATCH_TYPES[:3]:
        raise StatusError(415, "UnsupportedMediaType", f"unsupported patch type {media} on scale")
    body: Any = (typed_body("Scale", (await read_object_body(request))[0], name=target.name,
                            group="autoscaling") if request.method == "PUT"
                 else (await read_decoded(request)).value)
    opts = scope.write_options()

    def compute(current: JsonObj) -> JsonObj:
        scale = strategy.to_scale(current)
        if request.method == "PUT":
            wanted = (body.get("metadata") or {}).get("resourceVersion")
            if wanted and wanted != scale["metadata"]["resourceVersion"]:
                raise conflict(kind, target.name or "")
            new_scale = body
        else:
            new_scale = typed_body("Scale", _apply_patch(
                "Deployment", "application/merge-patch+json"
                if media.startswith("application/strategic") else media, scale, body),
                name=target.name or "", group="autoscaling")
        new = strategy.scaled(current, _replicas(new_scale, target.name or ""))
        return admission.admit_update(strategy, current, new, subresource="scale",
                                      opts=opts, now=state.clock.now())

    warnings: list[str] = []

    async def review(new: JsonObj, current: JsonObj) -> JsonObj:
        """Webhooks on ``<plural>/scale`` see (and may patch) the Scale, as upstream."""
        asked = strategy.to_scale(new)
        reviewed, warnings[:] = await webhooks.review_body(
            state, scope, operation="UPDATE", obj=asked, old=strategy.to_scale(current),
            body_kind=("autoscaling", "v1", "Scale"), dry_run=opts.dry_run)
        if reviewed == asked:
            return new
        scale = typed_body("Scale", reviewed, name=target.name or "", group="autoscaling")
        return admission.admit_update(
            strategy, current, strategy.scaled(current, _replicas(scale, target.name or "")),
            subresource="scale", opts=opts, now=state.clock.now())

    obj = await guarded_update(state.storage, kind, target.namespace, target.name, compute,
                               dry_run=opts.dry_run, review=review)
    return json_response(strategy.to_scale(obj), headers=warning_headers(warnings))


async def _binding(state: ServerState, scope: Scope, request: web.Request) -> web.Response:
    target, kind = scope.target, scope.target.kind
    assert target.name is not None
    body = typed_body("Binding", (await read_object_body(request))[0], name=target.name)
    opts = scope.write_options()
    reviewed, warnings = await webhooks.review_body(
        state, scope, operation="CREATE", obj=_typed_meta(body, "v1", "Binding", target),
        old=None, body_kind=("", "v1", "Binding"), dry_run=opts.dry_run)
    body = typed_body("Binding", reviewed, name=target.name)
    node = (body.get("target") or {}).get("name") or ""
    if not node:
        raise invalid_body("Binding", target.name, [field_errors.required("target.name")])

    def compute(current: JsonObj) -> JsonObj:
        spec = current.get("spec") or {}
        if current["metadata"].get("deletionTimestamp"):
            raise conflict(kind, target.name or "", "pod is being deleted, cannot be assigned "
                           "to a host")
        if spec.get("nodeName"):
            raise conflict(kind, target.name or "", f"pod {target.name} is already assigned "
                           f"to node \"{spec['nodeName']}\"")
        return _assigned(state.strategy(kind), current, node,
                         (body.get("metadata") or {}).get("annotations") or {},
                         opts=opts, now=state.clock.now())

    cached = state.caches.peek(kind).objects.get(kind.key(target.namespace, target.name))
    await guarded_update(state.storage, kind, target.namespace, target.name, compute,
                         dry_run=opts.dry_run, suggestion=cached)
    return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                          "status": "Success", "code": 201}, 201,
                         headers=warning_headers(warnings))


def _assigned(strategy: Strategy, current: JsonObj, node: str, annotations: dict[str, str], *,
              opts: admission.WriteOptions, now: datetime.datetime) -> JsonObj:
    """``current`` (a stored, unbound pod) assigned to ``node`` with ``annotations`` merged.

    As upstream's ``setPodHostAndAnnotations``, which writes the pod through storage without
    the pod update's defaulting and validation: the stored pod was defaulted and validated when
    it was written and a binding changes only ``spec.nodeName`` and annotations, so those steps
    of :func:`admission.admit_update` would find nothing (tests/unit/apiserver/test_pod_writes
    pins the stored bytes against them). The merged metadata is still validated (the binding's
    annotations are new input) and the binder's ``managedFields`` entry recorded, as before."""
    new = copy.deepcopy(current)
    new["spec"]["nodeName"] = node
    if annotations:
        meta = new["metadata"]
        meta.setdefault("annotations", {}).update(annotations)
        kind = strategy.kind
        errors = validation.unique(validation.validate_metadata(
            meta, kind=kind.kind, namespaced=kind.namespaced))
        if errors:
            raise invalid(kind, meta.get("name", ""), [e.cause() for e in errors])
    strategy.record_update(new, current, manager=opts.field_manager, subresource="binding",
                           now=now)
    return new


async def _eviction(state: ServerState, scope: Scope, request: web.Request) -> web.Response:
    target = scope.target
    assert target.name is not None
    body = typed_body("Eviction", (await read_object_body(request, empty={}))[0],
                      name=target.name, group="policy")
    name = (body.get("metadata") or {}).get("name")
    if name not in (None, target.name):
        raise bad_request("name in URL does not match name in Eviction object")
    reviewed, warnings = await webhooks.review_body(
        state, scope, operation="CREATE", obj=_typed_meta(body, "policy/v1", "Eviction", target),
        old=None, body_kind=("policy", "v1", "Eviction"), dry_run="dryRun" in scope.query)
    body = typed_body("Eviction", reviewed, name=target.name, group="policy")
    options = delete_options(body.get("deleteOptions") or {}, scope)
    if not options.get("dryRun"):
        await eviction.check_budgets(state, target.namespace or "", target.name, options)
    await delete_object(state, scope, target.name, options)
    return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                          "status": "Success", "code": 201}, 201,
                         headers=warning_headers(warnings))


def _typed_meta(body: JsonObj, api_version: str, kind: str, target: Target) -> JsonObj:
    """A subresource body as webhooks see it: apiVersion, kind, name and namespace set."""
    meta = {"name": target.name, **({"namespace": target.namespace} if target.namespace
                                    else {}), **(body.get("metadata") or {})}
    return {**body, "apiVersion": api_version, "kind": kind, "metadata": meta}
