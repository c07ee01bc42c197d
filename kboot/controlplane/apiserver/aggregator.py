"""API aggregation, request side: ``/apis/<group>/<version>/...`` of a service-backed
``APIService`` is proxied to the Service's endpoint (docs/apiserver.md "Aggregated APIs").

The apiserver authenticates and authorizes the request itself (RBAC on the aggregated group's
resource, as kube-apiserver does), then forwards it as upstream's aggregator does: over TLS to
an endpoint address of the Service (the endpoint is chosen here, like kube-apiserver's
``--enable-aggregator-routing``: every kboot host routes to pod IPs), verifying the server
against ``caBundle`` for the name ``<service>.<namespace>.svc`` unless ``insecureSkipTLSVerify``,
presenting the proxy client certificate, and naming the user in ``X-Remote-User``,
``X-Remote-Group`` and ``X-Remote-Extra-<key>`` (requestheader authentication; the aggregated
server trusts them through the ``extension-apiserver-authentication`` ConfigMap). The caller's
own ``Authorization`` and impersonation headers are never forwarded.

The set of APIServices is read from the watch cache, so routing costs no store round trip. A
group-version the apiserver serves itself (built-in or registered at run time) is never proxied.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.authz import Attributes
from kboot.controlplane.apiserver.errors import StatusError, forbidden, forbidden_message
from kboot.controlplane.apiserver.state import ServerState

JsonObj = dict[str, Any]
_FORWARDED_HEADERS = ("Accept", "Content-Type", "Accept-Encoding", "User-Agent")
_NAMED_VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete",
                "POST": "create"}
_COLLECTION_VERBS = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}


@dataclass(frozen=True)
class Backend:
    """Where one aggregated group-version is served."""

    name: str  # the APIService's name, ``<version>.<group>``
    group: str
    version: str
    namespace: str
    service: str
    port: int
    ca_bundle: bytes
    insecure: bool


def apiservices(state: ServerState) -> list[JsonObj]:
    kind = lookup("apiregistration.k8s.io", "apiservices")
    assert kind is not None
    return list(state.caches.peek(kind).objects.values())


def backend_of(obj: JsonObj) -> Backend | None:
    """The backend of a service-backed APIService (None for a local one)."""
    spec = obj.get("spec") or {}
    service = spec.get("service")
    if not isinstance(service, dict) or not service.get("name"):
        return None
    try:
        ca = base64.b64decode(spec.get("caBundle") or "")
    except ValueError:
        ca = b""
    return Backend(name=obj["metadata"]["name"], group=str(spec.get("group", "")),
                   version=str(spec.get("version", "")),
                   namespace=str(service.get("namespace") or "default"),
                   service=str(service["name"]), port=int(service.get("port") or 443),
                   ca_bundle=ca, insecure=bool(spec.get("insecureSkipTLSVerify")))


def served(state: ServerState) -> set[tuple[str, str]]:
    """The group-versions this apiserver serves itself."""
    return {(k.group, k.version) for k in state.kinds.served_kinds()}


def backends(objs: Iterable[JsonObj], local: set[tuple[str, str]]
             ) -> dict[tuple[str, str], Backend]:
    out = {}
    for obj in objs:
        backend = backend_of(obj)
        if backend is not None and (backend.group, backend.version) not in local:
            out[(backend.group, backend.version)] = backend
    return out


def backend_for_path(state: ServerState, path: str) -> Backend | None:
    """The backend serving ``path`` (``/apis/<g>/<v>[/...]``), or None."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 3 or parts[0] != "apis":
        return None
    local = served(state)
    if (parts[1], parts[2]) in local:
        return None
    return backends(apiservices(state), local).get((parts[1], parts[2]))


def attributes(method: str, path: str, *, watch: bool) -> Attributes:
    """Upstream's RequestInfo for an aggregated resource path (``namespaces`` is always the
    namespace segment, as upstream's parser assumes for every group)."""
    parts = [p for p in path.split("/") if p][1:]
    group, rest = parts[0], parts[2:]
    if not rest:  # the group-version's own discovery document
        return Attributes(verb="get", path=path)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 2:
        return Attributes(verb=_NAMED_VERBS.get(method, "get"), group=group,
                          resource="namespaces", name=rest[1])
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    sub = "/".join(rest[2:])
    if watch:
        verb = "watch"
    elif name:
        verb = _NAMED_VERBS.get(method, "unknown")
    else:
        verb = _COLLECTION_VERBS.get(method, "unknown")
    return Attributes(verb=verb, group=group, resource=resource, subresource=sub,
                      namespace=namespace, name=name)


def authorize(state: ServerState, user: UserInfo, attrs: Attributes) -> None:
    if state.authorizer.authorize(user, attrs).allowed:
        return
    if not attrs.resource:
        raise StatusError(403, "Forbidden", f'forbidden: User "{user.name}" cannot get path '
                       f'"{attrs.path}"')
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    message = forbidden_message(user.name, attrs.verb, resource, attrs.group,
                                attrs.namespace or None)
    prefix = f'{resource} "{attrs.name}" is forbidden: ' if attrs.name else \
        f"{resource} is forbidden: "
    raise forbidden(attrs.resource, attrs.group, attrs.name, prefix + message)


def identity_headers(user: UserInfo) -> list[tuple[str, str]]:
    """The requestheader identity of ``user`` (extra keys percent-encoded, as upstream)."""
    headers = [("X-Remote-User", user.name)]
    headers += [("X-Remote-Group", g) for g in user.groups]
    for key, values in user.extra:
        headers += [(f"X-Remote-Extra-{quote(key, safe='')}", v) for v in values]
    return headers


def endpoint(state: ServerState, backend: Backend) -> tuple[str, int]:
    """(address, port) of a ready endpoint of the backend's Service; 503 naming what is
    missing otherwise (the same reasons the availability check reports)."""
    services, endpoints = lookup("", "services"), lookup("", "endpoints")
    assert services is not None and endpoints is not None
    svc = state.caches.peek(services).objects.get(services.key(backend.namespace,
                                                               backend.service))
    if svc is None:
        raise ServiceUnavailable("ServiceNotFound", f'service/{backend.service} in '
                                 f'"{backend.namespace}" is not present')
    port_name = ""
    target: Any = backend.port
    for port in (svc.get("spec") or {}).get("ports") or []:
        if port.get("port") == backend.port:
            port_name, target = port.get("name", ""), port.get("targetPort", backend.port)
            break
    else:
        raise ServiceUnavailable("ServicePortError", f"service/{backend.service} in "
                                 f'"{backend.namespace}" is not listening on port '
                                 f"{backend.port}")
    eps = state.caches.peek(endpoints).objects.get(endpoints.key(backend.namespace,
                                                                 backend.service)) or {}
    for subset in eps.get("subsets") or []:
        ports = subset.get("ports") or []
        chosen = next((p for p in ports if p.get("name", "") == port_name), None)
        if chosen is None and len(ports) == 1:
            chosen = ports[0]
        addresses = subset.get("addresses") or []
        if chosen is not None and addresses:
            return str(addresses[0]["ip"]), int(chosen.get("port") or target)
    raise ServiceUnavailable("MissingEndpoints", f"endpoints for service/{backend.service} in "
                             f'"{backend.namespace}" have no addresses with port name '
                             f'"{port_name}"')


class ServiceUnavailable(StatusError):
    """The backend cannot be reached; ``reason`` is the APIService condition's reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(503, "ServiceUnavailable", message)
        self.condition_reason = reason


class Transport:
    """TLS towards aggregated servers: the proxy client certificate, one context per
    ``caBundle`` (cached: building a context parses certificates)."""

    def __init__(self, cert_file: str, key_file: str) -> None:
        self.cert_file, self.key_file = cert_file, key_file
        self._contexts: dict[tuple[str, bool], ssl.SSLContext] = {}
        self._session: aiohttp.ClientSession | None = None

    def context(self, backend: Backend) -> ssl.SSLContext:
        key = (hashlib.sha256(backend.ca_bundle).hexdigest(), backend.insecure)
        ctx = self._contexts.get(key)
        if ctx is None:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            if backend.insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            elif backend.ca_bundle:
                ctx.load_verify_locations(cadata=backend.ca_bundle.decode(errors="replace"))
            if self.cert_file:
                ctx.load_cert_chain(self.cert_file, self.key_file)
            self._contexts[key] = ctx
        return ctx

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=None),
                auto_decompress=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def open(self, state: ServerState, backend: Backend, method: str, path_qs: str,
                   headers: list[tuple[str, str]], body: bytes | None = None,
                   timeout: float | None = None) -> aiohttp.ClientResponse:
        """Send one request to the backend; 503 with the cause when it cannot be reached."""
        ip, port = endpoint(state, backend)
        host = f"[{ip}]" if ":" in ip else ip
        try:
            return await self.session().request(
                method, f"https://{host}:{port}{path_qs}", headers=headers, data=body,
                ssl=self.context(backend), server_hostname=(
                    None if backend.insecure else f"{backend.service}.{backend.namespace}.svc"),
                timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=5))
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            raise ServiceUnavailable("FailedDiscoveryCheck", f"error trying to reach service: "
                                     f"{err}") from None


async def proxy(state: ServerState, transport: Transport, backend: Backend, user: UserInfo,
                request: web.Request) -> web.StreamResponse:
    """Forward ``request`` to the backend and stream its answer back unchanged."""
    headers = [(h, request.headers[h]) for h in _FORWARDED_HEADERS if h in request.headers]
    headers += identity_headers(user)
    body = await request.read() if request.can_read_body else None
    upstream = await transport.open(state, backend, request.method, request.path_qs, headers,
                                    body)
    async with upstream:
        response = web.StreamResponse(status=upstream.status)
        for name in ("Content-Type", "Content-Encoding", "Cache-Control"):
            if name in upstream.headers:
                response.headers[name] = upstream.headers[name]
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except (ConnectionResetError, aiohttp.ClientError):
            pass  # either side went away mid-stream (a watch ending): nothing to report
        return response
