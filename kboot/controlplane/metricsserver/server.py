"""The metrics server's HTTPS API: ``metrics.k8s.io/v1beta1`` behind the apiserver's
aggregation layer.

Routes: ``/apis/metrics.k8s.io/v1beta1`` (the APIResourceList the availability check and
discovery read), ``…/nodes[/<name>]``, ``…/pods``, ``…/namespaces/<ns>/pods[/<name>]``
(``labelSelector`` honoured), ``/healthz``. Authentication is upstream's requestheader scheme:
a request must come with a client certificate signed by the requestheader CA whose CN is one of
the allowed names (both from ``kube-system/extension-apiserver-authentication``); the user is
then ``X-Remote-User``. Everything else is 401. Authorization already happened in the
apiserver (RBAC on ``nodes``/``pods`` of ``metrics.k8s.io``); this server does not repeat it
with a SubjectAccessReview, unlike metrics-server (docs/apiserver.md).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from aiohttp import web

from kboot.controlplane.metricsserver.usage import GROUP_VERSION, JsonObj, UsageStore

PREFIX = "/apis/metrics.k8s.io/v1beta1"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# (namespace or None, labelSelector) -> the (namespace, name) of the pods it selects
PodSelector = Callable[[str | None, str], Awaitable[set[tuple[str, str]]]]

RESOURCES: JsonObj = {
    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION,
    "resources": [
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics",
         "verbs": ["get", "list"]},
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics",
         "verbs": ["get", "list"]},
    ],
}


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    return web.json_response(body, status=code)


def _common_name(peercert: Any) -> str:
    subject = (peercert or {}).get("subject") or ()
    return next((v for rdn in subject for k, v in rdn if k == "commonName"), "")


def requestheader_auth(allowed_names: Collection[str]) -> Any:
    """Middleware: only the aggregator's proxy certificate may call; it names the user."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/healthz":
            return await handler(request)
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        name = _common_name(peer)
        if not peer or (allowed_names and name not in allowed_names) or \
                not request.headers.get("X-Remote-User"):
            return _status(401, "Unauthorized", "Unauthorized")
        return await handler(request)

    return authenticate


def serving_context(cert_pem: bytes, key_pem: bytes, requestheader_ca: str,
                    workdir: str) -> ssl.SSLContext:
    """TLS with the given serving pair; client certificates verified when offered."""
    import os
    import tempfile
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    fd, path = tempfile.mkstemp(dir=workdir, suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(cert_pem + key_pem)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)
    ctx.load_verify_locations(cadata=requestheader_ca)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


class MetricsApi:
    def __init__(self, store: UsageStore, allowed_names: Collection[str],
                 select_pods: PodSelector | None = None) -> None:
        self.store, self.allowed_names, self.select_pods = store, allowed_names, select_pods

    def app(self) -> web.Application:
        app = web.Application(middlewares=[requestheader_auth(self.allowed_names)])
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get(PREFIX, self.resources)
        app.router.add_get(f"{PREFIX}/nodes", self.nodes)
        app.router.add_get(f"{PREFIX}/nodes/{{name}}", self.node)
        app.router.add_get(f"{PREFIX}/pods", self.pods)
        app.router.add_get(f"{PREFIX}/namespaces/{{ns}}/pods", self.pods)
        app.router.add_get(f"{PREFIX}/namespaces/{{ns}}/pods/{{name}}", self.pod)
        return app

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def resources(self, _request: web.Request) -> web.Response:
        return await self._json(RESOURCES)

    async def _json(self, body: JsonObj) -> web.Response:
        return web.Response(text=json.dumps(body), content_type="application/json")

    def _list(self, kind: str, items: list[JsonObj]) -> JsonObj:
        return {"kind": kind, "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}

    async def nodes(self, request: web.Request) -> web.Response:
        return await self._json(self._list("NodeMetricsList", self.store.node_metrics()))

    async def node(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        for item in self.store.node_metrics():
            if item["metadata"]["name"] == name:
                return await self._json(item)
        return _status(404, "NotFound", f'nodemetrics.metrics.k8s.io "{name}" not found')

    async def pods(self, request: web.Request) -> web.Response:
        ns = request.match_info.get("ns")
        items = [p for p in self.store.pod_metrics()
                 if ns is None or p["metadata"]["namespace"] == ns]
        selector = request.query.get("labelSelector", "")
        if selector and self.select_pods is not None:
            chosen = await self.select_pods(ns, selector)
            items = [p for p in items
                     if (p["metadata"]["namespace"], p["metadata"]["name"]) in chosen]
        return await self._json(self._list("PodMetricsList", items))

    async def pod(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        for item in self.store.pod_metrics():
            if (item["metadata"]["namespace"], item["metadata"]["name"]) == (ns, name):
                return await self._json(item)
        return _status(404, "NotFound", f'podmetrics.metrics.k8s.io "{name}" not found')
