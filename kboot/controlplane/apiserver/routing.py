"""URL → what the request addresses, and method → RBAC verb.

kube-apiserver's REST paths are regular: ``/api/v1`` or ``/apis/<group>/<version>``, then an
optional ``namespaces/<ns>``, then ``<plural>[/<name>[/<subresource>]]``. One parser turns a path
into a :class:`Target` (or ``None`` for paths outside the resource tree) so every handler, the
authorizer and the metrics agree on the resource, namespace, name and verb.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.errors import ControlPlaneError


class KindLookup(Protocol):
    """What routing needs of the served kinds (a :class:`~.kinds.KindRegistry`)."""

    def lookup(self, group: str, plural: str) -> ResourceKind | None: ...


@dataclass(frozen=True)
class Target:
    kind: ResourceKind
    namespace: str | None  # None: cluster-scoped kind, or a cluster-wide list of a namespaced one
    name: str | None
    subresource: str | None = None

    @property
    def resource(self) -> str:
        """``pods`` or ``pods/status``: the RBAC resource string."""
        return f"{self.kind.plural}/{self.subresource}" if self.subresource else self.kind.plural


class UnknownResource(ControlPlaneError):
    """The path is inside a group-version but names no served resource."""


def _group_version(parts: list[str]) -> tuple[str, str, list[str]] | None:
    if len(parts) >= 2 and parts[0] == "api" and parts[1] == "v1":
        return "", "v1", parts[2:]
    if len(parts) >= 3 and parts[0] == "apis":
        return parts[1], parts[2], parts[3:]
    return None


def parse_path(path: str, kinds: KindLookup) -> Target | None:
    """Parse a resource path against the served ``kinds``; None when the path is not a
    resource path (discovery etc.).

    Raises UnknownResource for ``/api/v1/nonsense`` style paths.
    """
    parts = [p for p in path.split("/") if p]
    gv = _group_version(parts)
    if gv is None:
        return None
    group, version, rest = gv
    if not rest:
        return None
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        candidate = kinds.lookup(group, rest[2])
        if candidate is not None and candidate.namespaced and candidate.version == version:
            namespace, rest = rest[1], rest[2:]
    kind = kinds.lookup(group, rest[0])
    if kind is None or kind.version != version or len(rest) > 3:
        raise UnknownResource(path)
    if namespace is None and kind.namespaced and len(rest) > 1:
        raise UnknownResource(path)
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub is not None and sub not in kind.subresources:
        raise UnknownResource(path)
    return Target(kind, namespace, name, sub)


_NAMED_VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete",
                "POST": "create"}
_COLLECTION_VERBS = {"GET": "list", "POST": "create", "DELETE": "deletecollection",
                     "PUT": "update", "PATCH": "patch"}


def verb_for(method: str, target: Target, *, watch: bool) -> str:
    """The RBAC verb of a request (upstream's RequestInfo rules)."""
    if target.subresource in ("exec", "attach", "portforward", "binding", "eviction"):
        return "create" if method in ("GET", "POST") else _NAMED_VERBS.get(method, "get")
    if target.name is None:
        if method == "GET" and watch:
            return "watch"
        return _COLLECTION_VERBS.get(method, "unknown")
    if method == "GET" and watch:
        return "watch"
    return _NAMED_VERBS.get(method, "unknown")
