"""``autoscaling/v1`` HorizontalPodAutoscalers: a conversion view of the stored ``autoscaling/v2``
objects, for ``kubectl autoscale`` (kubectl 1.32 posts v1) and v1 readers.

``create``, ``get`` and ``list`` are served: a v1 body is converted to v2
(``targetCPUUtilizationPercentage`` becomes a CPU ``Utilization`` metric), created through the
shared create path, and answered converted back (the v2 CPU metric's target and current
utilisation become ``targetCPUUtilizationPercentage``/``currentCPUUtilizationPercentage``).
Updates, patches, deletes and watches answer 405 naming ``autoscaling/v2``: the registry serves
one version per kind, so the v1 view is deliberately small (docs/apiserver.md, Known gaps).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from aiohttp import web

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver import crud
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.codec import json_response
from kboot.controlplane.apiserver.errors import StatusError
from kboot.controlplane.apiserver.routing import Target
from kboot.controlplane.apiserver.state import Scope, ServerState

JsonObj = dict[str, Any]
PATH_RE = re.compile(r"^/apis/autoscaling/v1/(?:namespaces/([^/]+)/)?horizontalpodautoscalers"
                     r"(?:/([^/]+))?/?$")
V1 = "autoscaling/v1"


def _cpu_metric(spec: JsonObj) -> JsonObj | None:
    for metric in spec.get("metrics") or []:
        resource = metric.get("resource") or {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu":
            return dict(resource)
    return None


def to_v2(obj: JsonObj) -> JsonObj:
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v2"
    spec = out.setdefault("spec", {})
    percent = spec.pop("targetCPUUtilizationPercentage", None)
    if percent is not None:
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": percent}}}]
    out.pop("status", None)
    return out


def to_v1(obj: JsonObj) -> JsonObj:
    out = copy.deepcopy(obj)
    out["apiVersion"] = V1
    spec = out.get("spec") or {}
    cpu = _cpu_metric(spec)
    spec.pop("metrics", None)
    spec.pop("behavior", None)
    if cpu and (cpu.get("target") or {}).get("type") == "Utilization":
        spec["targetCPUUtilizationPercentage"] = cpu["target"].get("averageUtilization")
    status = out.get("status") or {}
    current = None
    for metric in status.pop("currentMetrics", None) or []:
        resource = metric.get("resource") or {}
        if resource.get("name") == "cpu":
            current = (resource.get("current") or {}).get("averageUtilization")
    status.pop("conditions", None)
    if current is not None:
        status["currentCPUUtilizationPercentage"] = current
    if status:
        out["status"] = status
    return out


async def handle(state: ServerState, user: UserInfo, request: web.Request,
                 authorize: Any) -> web.StreamResponse | None:
    """Serve a v1 HPA request; None when the path is not one."""
    match = PATH_RE.match(request.path)
    if match is None:
        return None
    kind = lookup("autoscaling", "horizontalpodautoscalers")
    assert kind is not None
    namespace, name = match.groups()
    target = Target(kind, namespace, name)
    watching = request.query.get("watch", "") in ("true", "1")
    if request.method == "GET" and not watching:
        verb = "get" if name else "list"
        authorize(state, user, target, verb)
        if name:
            return json_response(to_v1(await state.storage.get(kind, namespace, name)))
        page = await state.storage.list(kind, namespace)
        return json_response({"kind": "HorizontalPodAutoscalerList", "apiVersion": V1,
                              "metadata": {"resourceVersion": str(page.revision)},
                              "items": [to_v1(o) for o in page.items]})
    if request.method == "POST" and name is None and namespace:
        authorize(state, user, target, "create")
        body, duplicates = await crud.read_object_body(request)
        if body.get("apiVersion") not in (None, V1):
            raise StatusError(400, "BadRequest", f"expected apiVersion {V1}, got "
                           f"{body.get('apiVersion')}")
        scope = Scope(target, user, "create", request.query,
                      request.headers.get("User-Agent", ""))
        created, _ = await crud.create_object(state, scope, to_v2(body), duplicates)
        return json_response(to_v1(created), 201)
    raise StatusError(405, "MethodNotAllowed", f"{request.method} on autoscaling/v1 "
                   "horizontalpodautoscalers is not supported by kboot; use autoscaling/v2")
