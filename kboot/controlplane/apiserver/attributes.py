"""What an authorizer decides on: the request's attributes and the decision.

A leaf module (it imports nothing from the apiserver) so that the authorizers — RBAC in
:mod:`.authz`, the Node authorizer in :mod:`.nodeauth`, the escalation guard — can all name these
types without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attributes:
    """Upstream's ``authorizer.Attributes``: a resource request (``resource`` set) or a
    non-resource request (``path`` set)."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # for non-resource requests

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
