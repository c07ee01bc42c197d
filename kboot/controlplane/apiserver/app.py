"""The aiohttp application: one dispatcher, authentication, authorization, errors, metrics.

Every request goes through the same steps: public endpoints (``/version``, health) answer
first; everything else is authenticated (client certificate, then bearer token; anonymous →
401), classified (non-resource path or a resource :class:`~.routing.Target`), authorized
(Node, then RBAC; 403 with upstream's wording) and handed to its handler. Handlers raise
StatusError; the middleware renders it as a ``Status`` and records metrics. An unexpected exception
is logged and becomes a 500 — bad input must never get there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from kboot.controlplane.api import openapi_v2
from kboot.controlplane.api.errors import ApiRuleError
from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver import (
    aggdiscovery,
    aggregator,
    crdviews,
    crud,
    discovery,
    hpav1,
    impersonation,
    listing,
    offload,
    openapidocs,
    patching,
    portforward,
    reviews,
    tokenrequest,
    watch,
)
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.authz import Attributes, selected_name
from kboot.controlplane.apiserver.codec import (
    AGGREGATED_TYPE,
    AGGREGATED_TYPE_BETA,
    MAX_BODY,
    aggregated_discovery_version,
    json_response,
    status_response,
    wants_table,
)
from kboot.controlplane.apiserver.errors import (
    StatusError,
    bad_request,
    forbidden,
    forbidden_message,
    method_not_allowed,
    too_large,
    unauthorized,
)
from kboot.controlplane.apiserver.routing import Target, UnknownResource, parse_path, verb_for
from kboot.controlplane.apiserver.state import STATE, Scope, ServerState
from kboot.controlplane.store.base import StoreUnavailable

log = logging.getLogger(__name__)

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "kboot",
           "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0",
           "compiler": "gc", "platform": "linux/amd64"}
PORT_FORWARD_RE = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/portforward$")
METRIC: web.RequestKey[tuple[str, str, str]] = web.RequestKey("kboot_metric", tuple)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    clock = request.app[STATE].clock
    started = clock.monotonic()
    code = 500
    try:
        response = await handler(request)
        code = response.status
        return response
    except StatusError as err:
        code = err.code
        return status_response(err)
    except ApiRuleError as err:
        code = err.code
        return status_response(StatusError(err.code, err.reason, err.message))
    except web.HTTPRequestEntityTooLarge:  # a body without Content-Length read past the limit
        code = 413
        return status_response(too_large())
    except web.HTTPException as err:
        code = err.status
        raise
    except StoreUnavailable:
        code = 503
        return status_response(StatusError(503, "ServiceUnavailable", "the storage backend is "
                                        "unavailable; retry later", headers={"Retry-After": "1"}))
    except RecursionError:  # decoding bounds depth; this is the net under every later walk
        code = 400
        log.warning("request nested too deeply for %s %s", request.method, request.path)
        return status_response(bad_request("the request is nested too deeply to be processed"))
    except Exception as err:  # a bug: never let it escape as a bare traceback
        log.exception("internal error serving %s %s", request.method, request.path)
        return status_response(StatusError(500, "InternalError",
                                        f"Internal error occurred: {type(err).__name__}"))
    finally:
        labels = request.get(METRIC, ("", "", ""))
        request.app[STATE].metrics.observe(verb=labels[0] or request.method, group=labels[1],
                                           resource=labels[2], code=code,
                                           seconds=clock.monotonic() - started)


async def _public(request: web.Request, state: ServerState) -> web.StreamResponse | None:
    path = request.path.rstrip("/") or "/"
    if path == "/version":
        return json_response(VERSION)
    if path in ("/healthz", "/livez") or path.startswith(("/healthz/", "/livez/")):
        return web.Response(text="ok")
    if path == "/readyz" or path.startswith("/readyz/"):
        try:
            await state.storage.store.current_revision()
        except Exception:
            return web.Response(status=500, text="[-]etcd failed: reason withheld\nreadyz check "
                                "failed")
        return web.Response(text="ok") if state.ready else web.Response(status=500,
                                                                        text="not ready")
    return None


async def dispatch(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    public = await _public(request, state)
    if public is not None:
        return public
    if (request.content_length or 0) > MAX_BODY:  # refuse before reading (or authenticating) it
        raise too_large()
    user = state.authenticator.authenticate(request.transport.get_extra_info("peercert")
                                            if request.transport else None,
                                            request.headers.get("Authorization"))
    if user is None:
        raise unauthorized()
    user = impersonation.impersonate(state.authorizer.authorize, user, request.headers)
    special = await _special(request, state, user)
    if special is not None:
        return special
    backend = aggregator.backend_for_path(state, request.path)
    if backend is not None and state.aggregation is not None:
        attrs = aggregator.attributes(request.method, request.path,
                                      watch=request.query.get("watch", "") in ("true", "1"))
        request[METRIC] = (attrs.verb.upper(), backend.group, attrs.resource)
        aggregator.authorize(state, user, attrs)
        return await aggregator.proxy(state, state.aggregation.transport, backend, user,
                                      request)
    view = crdviews.find(state, request.path)
    if view is not None:
        request = view.storage_request(request)
    try:
        target = parse_path(request.path, state.kinds)
    except UnknownResource:
        raise StatusError(404, "NotFound", "the server could not find the requested resource"
                       ) from None
    if target is None:
        attrs = Attributes(verb=request.method.lower() if request.method != "GET" else "get",
                           path=request.path)
        if not state.authorizer.authorize(user, attrs).allowed:
            raise StatusError(403, "Forbidden", f'forbidden: User "{user.name}" cannot get path '
                           f'"{request.path}"')
        return await _non_resource(request, state)
    watching = request.query.get("watch", "").lower() in ("true", "1")
    verb = verb_for(request.method, target, watch=watching)
    request[METRIC] = (verb.upper(), target.kind.group, target.resource)
    name = target.name or (selected_name(target.kind, request.query)
                           if verb in ("list", "watch") else "")
    _authorize(state, user, target, verb, name=name)
    scope = Scope(target, user, verb, request.query, request.headers.get("User-Agent", ""))
    response = await _resource(state, scope, request)
    return await view.answer(response) if view is not None else response


async def _special(request: web.Request, state: ServerState, user: UserInfo
                   ) -> web.StreamResponse | None:
    """Endpoints outside the registry's resource tree: access reviews, port-forward, tokens."""
    if request.path == reviews.PATH and request.method == "POST":
        return await reviews.self_subject_access_review(state, user, request)
    if request.path == reviews.WHOAMI_PATH and request.method == "POST":
        return await reviews.self_subject_review(user, request)
    if request.path == reviews.RULES_PATH and request.method == "POST":
        return await reviews.self_subject_rules_review(state, user, request)
    forward = PORT_FORWARD_RE.match(request.path)
    if forward and request.method in ("GET", "POST"):
        pods = lookup("", "pods")
        assert pods is not None
        pf = Target(pods, forward.group(1), forward.group(2), "portforward")
        request[METRIC] = ("CREATE", "", pf.resource)
        _authorize(state, user, pf, "create")
        return await portforward.port_forward(state, pf, request)
    if request.path.startswith("/apis/autoscaling/v1/"):
        return await hpav1.handle(state, user, request, _authorize)
    token_path = tokenrequest.PATH_RE.match(request.path)
    if token_path and request.method == "POST":
        accounts = lookup("", "serviceaccounts")
        assert accounts is not None
        ns, name = token_path.groups()
        _authorize(state, user, Target(accounts, ns, name, "token"), "create")
        return await tokenrequest.token_request(state, ns, name, request, user)
    return None


def _authorize(state: ServerState, user: object, target: Target, verb: str, *,
               name: str | None = None) -> None:
    """Authorize ``verb`` on ``target``; ``name`` overrides the URL's (a list or watch is
    authorized for the name its field selector pins)."""
    from kboot.controlplane.apiserver.auth import UserInfo
    assert isinstance(user, UserInfo)
    name = (target.name or "") if name is None else name
    attrs = Attributes(verb=verb, group=target.kind.group, resource=target.kind.plural,
                       subresource=target.subresource or "", namespace=target.namespace or "",
                       name=name)
    if state.authorizer.authorize(user, attrs).allowed:
        return
    resource = target.resource
    message = forbidden_message(user.name, verb, resource, target.kind.group, target.namespace)
    prefix = f'{resource} "{name}" is forbidden: ' if name else f"{resource} is forbidden: "
    raise forbidden(target.kind.plural, target.kind.group, name, prefix + message)


async def _resource(state: ServerState, scope: Scope, request: web.Request
                    ) -> web.StreamResponse:
    from kboot.controlplane.apiserver import subresources
    target, method = scope.target, request.method
    if target.subresource and target.subresource not in ("status", "approval"):
        return await subresources.handle(state, scope, request)
    if method == "GET":
        if scope.verb == "watch":
            return await watch.watch_handler(state, scope, request)
        if target.name is None:
            return await listing.list_handler(state, scope, request)
        return await _get(state, scope, request)
    if target.subresource in ("status", "approval") and method not in ("PUT", "PATCH"):
        raise method_not_allowed()
    if method == "POST":
        return await crud.create(state, scope, request)
    if method == "PUT" and target.name:
        return await crud.replace(state, scope, request)
    if method == "PATCH" and target.name:
        return await patching.patch(state, scope, request)
    if method == "DELETE":
        return await crud.delete(state, scope, request)
    raise method_not_allowed()


async def _get(state: ServerState, scope: Scope, request: web.Request) -> web.StreamResponse:
    target = scope.target
    assert target.name is not None
    obj = await state.storage.get(target.kind, target.namespace, target.name)
    if wants_table(request.headers.get("Accept", "")):
        table = state.strategy(target.kind).to_table(
            [obj], include_object=listing.table_options(scope), now=state.clock.now())
        table["metadata"] = {"resourceVersion": obj["metadata"]["resourceVersion"]}
        return json_response(table)
    return json_response(obj)


async def _non_resource(request: web.Request, state: ServerState) -> web.StreamResponse:
    if request.method != "GET":
        raise method_not_allowed()
    path = request.path.rstrip("/")
    accept = request.headers.get("Accept", "")
    cached = state.aggregation.discovery if state.aggregation else {}
    if path in ("/api", "/apis"):
        version = aggregated_discovery_version(accept)
        if version:
            body = (discovery.aggregated(state.kinds, True, version) if path == "/api"
                    else aggdiscovery.aggregated(state.kinds, version, cached))
            return json_response(body, content_type=AGGREGATED_TYPE if version == "v2"
                                 else AGGREGATED_TYPE_BETA)
        if path == "/api":
            cfg = state.config
            return json_response(discovery.api_versions(
                f"{cfg.advertise_address}:{cfg.secure_port}"))
        return json_response(aggdiscovery.api_group_list(state.kinds, cached))
    if path == "/metrics":
        return web.Response(text=state.metrics.render(),
                            content_type="text/plain", charset="utf-8")
    if path.startswith("/openapi/"):
        return _openapi(request, state, path)
    parts = path.strip("/").split("/")
    doc = None
    if parts[0] == "api" and len(parts) == 2:
        doc = discovery.resource_list(state.kinds, "", parts[1])
    elif parts[0] == "apis" and len(parts) == 2:
        doc = aggdiscovery.api_group(state.kinds, parts[1], cached)
    elif parts[0] == "apis" and len(parts) == 3:
        doc = discovery.resource_list(state.kinds, parts[1], parts[2])
    if doc is None:
        raise StatusError(404, "NotFound", "the server could not find the requested resource")
    return json_response(doc)


def _openapi(request: web.Request, state: ServerState, path: str) -> web.StreamResponse:
    if path == "/openapi/v2":
        as_json, as_proto = openapidocs.v2(state.kinds)
        if openapi_v2.wants_protobuf(request.headers.get("Accept", "")):
            return web.Response(body=as_proto, content_type=openapi_v2.PROTOBUF_TYPE)
        return web.Response(body=as_json, content_type="application/json")
    if path == "/openapi/v3":
        return json_response(openapidocs.root(state.kinds))
    if path.startswith("/openapi/v3/"):
        doc = openapidocs.document(state.kinds, path.removeprefix("/openapi/v3/"))
        if doc is not None:
            cache = ("public, immutable, max-age=31536000" if request.query.get("hash")
                     else "no-cache, private")
            return web.Response(body=doc, headers={"Content-Type": "application/json",
                                                   "Cache-Control": cache})
    raise StatusError(404, "NotFound", "the server could not find the requested resource")


def build_app(state: ServerState) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[error_middleware])
    app[STATE] = state
    offload.install(app)

    async def close_when_stopping(_: web.Request, response: web.StreamResponse) -> None:
        if state.stopping:  # no new request on this connection: the listener is closed too
            response.force_close()
            response.headers["Connection"] = "close"  # (aiohttp wrote its own before this hook)

    app.on_response_prepare.append(close_when_stopping)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app
