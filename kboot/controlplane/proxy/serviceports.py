"""Services + Endpoints (+ EndpointSlices) flattened into one :class:`ServicePort` per Service
port, each with the endpoints its traffic policies route to on *this* node.

Endpoint choice follows upstream's ``CategorizeEndpoints`` (no topology hints):

- the **cluster** set (``externalTrafficPolicy``/``internalTrafficPolicy: Cluster``): the ready
  endpoints (the Endpoints' ``addresses``, the same set as the slices' ``ready: true``); only when
  there is none anywhere, the endpoints the EndpointSlices mark ``serving`` and ``terminating``
  (a pod still answering during its preStop hook or drain);
- the **local** set (either policy ``Local``): the same choice made independently among the
  endpoints whose ``nodeName`` is this proxier's node — the local ready ones, else the local
  serving-terminating ones.

``has_endpoints`` says whether the Service has a usable endpoint anywhere (ready or
serving-terminating): with none at all every destination is rejected; with some, but none local,
Local-policy destinations are dropped (see :mod:`.rules`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kboot.controlplane.api.shapes import Obj

AFFINITY_SECONDS = 10800
SERVICE_NAME = "kubernetes.io/service-name"  # an EndpointSlice's Service


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service. ``endpoints`` is the cluster set, ``local_endpoints`` the local
    one (see the module docstring)."""

    namespace: str
    name: str
    port_name: str
    protocol: str
    port: int
    cluster_ip: str
    node_port: int
    external_ips: tuple[str, ...]
    endpoints: tuple[Endpoint, ...]
    affinity_seconds: int = 0
    local_endpoints: tuple[Endpoint, ...] = ()
    external_local: bool = False  # externalTrafficPolicy: Local (on an externally reachable port)
    internal_local: bool = False  # internalTrafficPolicy: Local

    @property
    def key(self) -> str:
        base = f"{self.namespace}/{self.name}"
        return f"{base}:{self.port_name}" if self.port_name else base

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.external_ips)

    @property
    def has_endpoints(self) -> bool:
        """A usable endpoint anywhere in the cluster (the cluster set is never empty then)."""
        return bool(self.endpoints)

    @property
    def uses_cluster(self) -> bool:
        """Cluster endpoints are used: internal Cluster policy, or any external destination
        (even with external Local policy, for the short-circuit of node and pod traffic)."""
        return not self.internal_local or self.externally_accessible

    @property
    def uses_local(self) -> bool:
        return self.internal_local or self.external_local

    @property
    def has_internal_endpoints(self) -> bool:
        return bool(self.local_endpoints if self.internal_local else self.endpoints)

    @property
    def has_external_endpoints(self) -> bool:
        return bool(self.local_endpoints if self.external_local else self.endpoints)

    def reachable(self) -> tuple[Endpoint, ...]:
        """Every endpoint some chain of this port jumps to (the union of the used sets)."""
        eps = set(self.endpoints if self.uses_cluster else ())
        eps |= set(self.local_endpoints if self.uses_local else ())
        return _sorted(eps)


@dataclass(frozen=True)
class _Candidate:
    endpoint: Endpoint
    ready: bool  # else serving and terminating
    local: bool


def _sorted(eps: Iterable[Endpoint]) -> tuple[Endpoint, ...]:
    return tuple(sorted(set(eps), key=lambda e: (e.ip, e.port)))


def _same_port(ep_port: Obj, port: Obj) -> bool:
    return (ep_port.get("name") or "") == (port.get("name") or "") and \
        ep_port.get("protocol", "TCP") == port.get("protocol", "TCP")


def _ready(endpoints: Obj | None, port: Obj, node: str) -> list[_Candidate]:
    """Ready addresses of the Endpoints subset port matching the service port (by name)."""
    out: list[_Candidate] = []
    for subset in (endpoints or {}).get("subsets") or []:
        for ep_port in subset.get("ports") or []:
            if not _same_port(ep_port, port):
                continue
            out += [_Candidate(Endpoint(a["ip"], int(ep_port["port"])), True,
                               bool(node) and a.get("nodeName") == node)
                    for a in subset.get("addresses") or []]
    return out


def _condition(ep: Obj, name: str, default: bool) -> bool:
    value = (ep.get("conditions") or {}).get(name)
    return default if value is None else bool(value)


def _serving_terminating(slices: Sequence[Obj], port: Obj, node: str) -> list[_Candidate]:
    """Endpoints of the slices that are serving and terminating, on the slice port matching
    the service port (by name and protocol). ``serving`` unset means ``ready`` (API docs)."""
    out: list[_Candidate] = []
    for sl in slices:
        ports = [int(p["port"]) for p in sl.get("ports") or []
                 if p.get("port") is not None and _same_port(p, port)]
        for ep in sl.get("endpoints") or []:
            if _condition(ep, "terminating", False) and \
                    _condition(ep, "serving", _condition(ep, "ready", True)):
                local = bool(node) and ep.get("nodeName") == node
                out += [_Candidate(Endpoint(ip, p), False, local)
                        for ip in ep.get("addresses") or [] for p in ports]
    return out


def categorize(candidates: Sequence[_Candidate]) -> tuple[tuple[Endpoint, ...],
                                                          tuple[Endpoint, ...]]:
    """(cluster set, local set): ready endpoints, else serving-terminating ones, chosen
    independently for all endpoints and for this node's."""
    def choose(pool: list[_Candidate]) -> tuple[Endpoint, ...]:
        ready = [c.endpoint for c in pool if c.ready]
        return _sorted(ready or [c.endpoint for c in pool if not c.ready])

    return choose(list(candidates)), choose([c for c in candidates if c.local])


def _affinity(spec: Obj) -> int:
    if spec.get("sessionAffinity") != "ClientIP":
        return 0
    cfg = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
    return int(cfg.get("timeoutSeconds", AFFINITY_SECONDS))


def _slices_by_service(slices: Iterable[Obj]) -> dict[tuple[str | None, str], list[Obj]]:
    out: dict[tuple[str | None, str], list[Obj]] = {}
    for sl in slices:
        owner = (sl["metadata"].get("labels") or {}).get(SERVICE_NAME)
        if owner:
            out.setdefault((sl["metadata"].get("namespace"), owner), []).append(sl)
    return out


def service_ports(services: Iterable[Obj], endpoints: Iterable[Obj],
                  slices: Iterable[Obj] = (), *, node_name: str = "") -> list[ServicePort]:
    """Flatten Services (with a cluster IP) and their Endpoints into sorted ServicePorts, with
    the endpoints local to *node_name* set apart."""
    by_key = {(e["metadata"].get("namespace"), e["metadata"]["name"]): e for e in endpoints}
    slices_of = _slices_by_service(slices)
    out: list[ServicePort] = []
    for svc in services:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        if spec.get("type") == "ExternalName" or spec.get("clusterIP") in (None, "", "None"):
            continue
        key = (meta.get("namespace"), meta["name"])
        for port in spec.get("ports") or []:
            candidates = _ready(by_key.get(key), port, node_name)
            if not candidates or (node_name and not any(c.local for c in candidates)):
                candidates += _serving_terminating(slices_of.get(key, []), port, node_name)
            cluster, local = categorize(candidates)
            out.append(_service_port(meta, spec, port, cluster, local))
    return sorted(out, key=lambda sp: (sp.key, sp.protocol))


def _service_port(meta: Obj, spec: Obj, port: Obj, cluster: tuple[Endpoint, ...],
                  local: tuple[Endpoint, ...]) -> ServicePort:
    node_port = int(port.get("nodePort") or 0) \
        if spec.get("type") in ("NodePort", "LoadBalancer") else 0
    external_ips = tuple(spec.get("externalIPs") or ())
    return ServicePort(
        namespace=meta.get("namespace", "default"), name=meta["name"],
        port_name=port.get("name") or "", protocol=port.get("protocol", "TCP"),
        port=int(port["port"]), cluster_ip=spec["clusterIP"], node_port=node_port,
        external_ips=external_ips, endpoints=cluster, affinity_seconds=_affinity(spec),
        local_endpoints=local,
        external_local=spec.get("externalTrafficPolicy") == "Local"
        and bool(node_port or external_ips),
        internal_local=spec.get("internalTrafficPolicy") == "Local")
