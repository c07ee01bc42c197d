"""The routing table: Ingresses, Services, Endpoints and Secrets in, resolved routes out (pure).

Everything haproxy needs is decided here and nothing is decided in the renderer: which
Ingresses are ours, which rule wins a conflict (the oldest Ingress by creationTimestamp, then
namespace/name), which backend a path reaches, which certificate serves which SNI name, and
the problems each Ingress has. A broken reference only ever degrades the route that uses it
(to the shared 503 backend); every other route is unaffected.

Backends are the Service's *ready endpoint addresses* with the Endpoints' target port, not the
ClusterIP: haproxy balances across pods itself (one hop less, no dependency on kboot-proxy's
rules, real per-connection balancing), as ingress-nginx does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kboot.controlplane.api.shapes import Obj, metadata
from kboot.controlplane.ingress.classes import is_ours
from kboot.controlplane.ingress.tls import SecretError, tls_pem

UNAVAILABLE = "be_unavailable"
NO_ROUTE = "be_no_route"
SSL_REDIRECT_ANNOTATION = "ingress.kboot.io/ssl-redirect"

_HOST_RE = re.compile(r"^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PATH_RE = re.compile(r"^/[A-Za-z0-9._~!$&()*+,;=:@%/-]*$")


@dataclass(frozen=True, order=True)
class Problem:
    reason: str
    message: str


@dataclass(frozen=True)
class Backend:
    name: str
    servers: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Route:
    host: str  # "" matches any host; "*.example.test" one extra DNS label
    path_type: str  # "Exact" or "Prefix" (ImplementationSpecific is treated as Prefix)
    path: str
    backend: str
    ingress: str

    @property
    def sort_key(self) -> tuple[int, str, int, int, str]:
        """Most specific first: exact host, wildcard host, any host; then Exact before
        Prefix, longer prefixes before shorter ones."""
        host_rank = 2 if not self.host else 1 if self.host.startswith("*.") else 0
        return (host_rank, self.host, 0 if self.path_type == "Exact" else 1,
                -len(self.path), self.path)


@dataclass(frozen=True)
class TlsCert:
    file_name: str
    pem: bytes
    hosts: tuple[str, ...]
    ingress: str


@dataclass(frozen=True)
class RoutingTable:
    routes: tuple[Route, ...]
    backends: tuple[Backend, ...]
    default_backend: str
    certs: tuple[TlsCert, ...]
    redirect_hosts: tuple[str, ...]
    problems: Mapping[str, tuple[Problem, ...]]
    ingresses: tuple[str, ...]


def key_of(obj: Obj) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace') or 'default'}/{md.get('name')}"


def age_key(obj: Obj) -> tuple[str, str]:
    """Oldest first: creationTimestamp (RFC 3339 sorts lexically), then namespace/name."""
    return (str(metadata(obj).get("creationTimestamp") or ""), key_of(obj))


def _by_key(objs: Iterable[Obj]) -> dict[str, Obj]:
    return {key_of(o): o for o in objs}


@dataclass
class _Builder:
    services: dict[str, Obj]
    endpoints: dict[str, Obj]
    secrets: dict[str, Obj]
    routes: dict[tuple[str, str, str], Route] = field(default_factory=dict)
    backends: dict[str, Backend] = field(default_factory=dict)
    default_backend: tuple[str, str] | None = None  # (backend, ingress)
    certs: dict[str, TlsCert] = field(default_factory=dict)  # by host ("" = no SNI filter)
    redirect: set[str] = field(default_factory=set)
    problems: dict[str, list[Problem]] = field(default_factory=dict)

    def problem(self, ingress: str, reason: str, message: str) -> None:
        found = self.problems.setdefault(ingress, [])
        if Problem(reason, message) not in found:
            found.append(Problem(reason, message))

    # -- backends -------------------------------------------------------------------------

    def backend(self, ingress: str, namespace: str, spec: Obj) -> str:
        svc_ref = spec.get("service")
        if not svc_ref:
            self.problem(ingress, "UnsupportedBackend", "only service backends are supported")
            return UNAVAILABLE
        name = svc_ref.get("name", "")
        svc = self.services.get(f"{namespace}/{name}")
        if svc is None:
            self.problem(ingress, "BackendServiceMissing",
                         f"service {namespace}/{name} not found: its routes answer 503")
            return UNAVAILABLE
        if (svc.get("spec") or {}).get("type") == "ExternalName":
            self.problem(ingress, "BackendServiceUnsupported",
                         f"service {namespace}/{name} is ExternalName: its routes answer 503")
            return UNAVAILABLE
        want = svc_ref.get("port") or {}
        port = _service_port(svc, want)
        if port is None:
            wanted = want.get("name") or want.get("number")
            self.problem(ingress, "BackendServicePortMissing",
                         f"service {namespace}/{name} has no port {wanted}: its routes answer 503")
            return UNAVAILABLE
        backend_name = f"be_{namespace}_{name}_{port['port']}"
        servers = _servers(port, self.endpoints.get(f"{namespace}/{name}"))
        self.backends[backend_name] = Backend(backend_name, servers)
        return backend_name

    # -- one Ingress ----------------------------------------------------------------------

    def add(self, ing: Obj) -> None:
        ingress, spec = key_of(ing), ing.get("spec") or {}
        namespace = ingress.split("/", 1)[0]
        if spec.get("defaultBackend"):
            if self.default_backend is None:
                self.default_backend = (self.backend(ingress, namespace, spec["defaultBackend"]),
                                        ingress)
            else:
                self.problem(ingress, "RuleConflict", "defaultBackend ignored: already set by "
                             f"older ingress {self.default_backend[1]}")
        self.add_tls(ing, ingress, namespace)
        for rule in spec.get("rules") or []:
            host = str(rule.get("host") or "").lower()
            if host and not _HOST_RE.match(host):
                self.problem(ingress, "InvalidHost", f"host {host!r} ignored")
                continue
            for p in (rule.get("http") or {}).get("paths") or []:
                self.add_path(ingress, namespace, host, p)

    def add_path(self, ingress: str, namespace: str, host: str, p: Obj) -> None:
        path_type = "Exact" if p.get("pathType") == "Exact" else "Prefix"
        path = str(p.get("path") or "/")
        if path_type == "Prefix":
            path = path.rstrip("/") or "/"
        if not _PATH_RE.match(path):
            self.problem(ingress, "InvalidPath", f"path {path!r} ignored")
            return
        key = (host, path_type, path)
        holder = self.routes.get(key)
        if holder is not None:
            if holder.ingress != ingress:
                self.problem(ingress, "RuleConflict", f"{host or '*'}{path} ({path_type}) "
                             f"ignored: already routed by older ingress {holder.ingress}")
            return
        backend = self.backend(ingress, namespace, p.get("backend") or {})
        self.routes[key] = Route(host, path_type, path, backend, ingress)

    def add_tls(self, ing: Obj, ingress: str, namespace: str) -> None:
        annotations = metadata(ing).get("annotations") or {}
        redirect = str(annotations.get(SSL_REDIRECT_ANNOTATION, "true")).lower() != "false"
        for entry in (ing.get("spec") or {}).get("tls") or []:
            hosts = [str(h).lower() for h in entry.get("hosts") or [] if _HOST_RE.match(str(h))]
            secret_name = entry.get("secretName")
            secret = self.secrets.get(f"{namespace}/{secret_name}") if secret_name else None
            if secret is None:
                self.problem(ingress, "TLSSecretMissing",
                             f"secret {namespace}/{secret_name} not found (or not of type "
                             f"kubernetes.io/tls): no TLS for {', '.join(hosts) or 'its hosts'}")
                continue
            try:
                pem = tls_pem(secret)
            except SecretError as exc:
                self.problem(ingress, "TLSSecretInvalid", f"secret {namespace}/{secret_name}: "
                             f"{exc}")
                continue
            self.add_cert(ingress, TlsCert(f"{namespace}_{secret_name}.pem", pem, (), ingress),
                          hosts or [""], redirect=redirect)

    def add_cert(self, ingress: str, cert: TlsCert, hosts: list[str], *,
                 redirect: bool) -> None:
        kept = []
        for host in hosts:
            holder = self.certs.get(host)
            if holder is not None and holder.ingress != ingress:
                self.problem(ingress, "RuleConflict", f"TLS for {host or 'default'} ignored: "
                             f"already served by older ingress {holder.ingress}")
                continue
            kept.append(host)
        for host in kept:
            self.certs[host] = TlsCert(cert.file_name, cert.pem, (host,) if host else (),
                                       ingress)
            if redirect and host:
                self.redirect.add(host)


def _service_port(svc: Obj, want: Obj) -> Obj | None:
    for port in (svc.get("spec") or {}).get("ports") or []:
        if want.get("name") and port.get("name") == want["name"]:
            return dict(port)
        if want.get("number") is not None and port.get("port") == want["number"]:
            return dict(port)
    return None


def _servers(port: Obj, endpoints: Obj | None) -> tuple[tuple[str, int], ...]:
    """Ready addresses times the Endpoints port named like the Service port."""
    name = port.get("name") or ""
    servers: set[tuple[str, int]] = set()
    for subset in (endpoints or {}).get("subsets") or []:
        ports = [p["port"] for p in subset.get("ports") or [] if (p.get("name") or "") == name
                 and p.get("protocol", "TCP") == "TCP"]
        for address in subset.get("addresses") or []:
            servers.update((address["ip"], p) for p in ports)
    return tuple(sorted(servers))


def matches(route: Route, host: str, path: str) -> bool:
    """Whether a request matches ``route`` — the semantics the rendered haproxy ACLs implement
    (host without port, case-insensitive; Prefix matches whole path elements)."""
    host = host.split(":", 1)[0].lower()
    if route.host.startswith("*."):
        first, _, rest = host.partition(".")
        if not first or "." + rest != route.host[1:]:
            return False
    elif route.host and route.host != host:
        return False
    if route.path_type == "Exact":
        return path == route.path
    return route.path == "/" or path == route.path or path.startswith(route.path + "/")


def route_for(table: RoutingTable, host: str, path: str) -> Route | None:
    """The route haproxy picks: the first match in the table's (most specific first) order."""
    return next((r for r in table.routes if matches(r, host, path)), None)


def build_table(ingresses: Iterable[Obj], classes: Iterable[Obj], services: Iterable[Obj],
                endpoints: Iterable[Obj], secrets: Iterable[Obj], *,
                controller: str) -> RoutingTable:
    class_list = list(classes)
    ours = sorted((i for i in ingresses if is_ours(i, class_list, controller)), key=age_key)
    b = _Builder(_by_key(services), _by_key(endpoints), _by_key(secrets))
    for ing in ours:
        b.add(ing)
    used = {r.backend for r in b.routes.values()}
    if b.default_backend:
        used.add(b.default_backend[0])
    certs = sorted(b.certs.values(), key=lambda c: (c.hosts == (), c.hosts, c.file_name))
    return RoutingTable(
        routes=tuple(sorted(b.routes.values(), key=lambda r: r.sort_key)),
        backends=tuple(b.backends[n] for n in sorted(used & set(b.backends))),
        default_backend=b.default_backend[0] if b.default_backend else NO_ROUTE,
        certs=tuple(certs),
        redirect_hosts=tuple(sorted(b.redirect)),
        problems={k: tuple(v) for k, v in sorted(b.problems.items())},
        ingresses=tuple(key_of(i) for i in ours))
