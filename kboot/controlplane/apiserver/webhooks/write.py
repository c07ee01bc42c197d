"""The one call the write path makes: :func:`review` a create, update or delete.

Kept apart from the dispatcher so that the handlers' side stays one line per write kind and
the dispatcher knows nothing of requests, scopes or the server state.
"""

from __future__ import annotations

from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.apiserver import rules
from kboot.controlplane.apiserver.errors import invalid
from kboot.controlplane.apiserver.state import Scope, ServerState
from kboot.controlplane.apiserver.webhooks.dispatcher import Revalidate, requester_of
from kboot.controlplane.apiserver.webhooks.matching import Attributes, JsonObj


def revalidator(kind: ResourceKind, old: JsonObj | None) -> Revalidate:
    """Default and validate an object a webhook changed, as the write path did before."""
    def run(obj: JsonObj) -> JsonObj:
        obj = rules.apply_defaults(kind, rules.normalize(kind, obj))
        causes = rules.validate(kind, obj, old)
        if causes:
            raise invalid(kind, (obj.get("metadata") or {}).get("name", ""), causes)
        return obj
    return run


async def review(state: ServerState, scope: Scope, *, operation: str, obj: JsonObj | None,
                 old: JsonObj | None, dry_run: bool) -> tuple[JsonObj | None, list[str]]:
    """Run the webhooks ``obj`` (None for deletes) matches; the object to store and the
    warnings for the client. Raises the ``StatusError`` that refuses the write."""
    dispatcher = state.webhooks
    if dispatcher is None:
        return obj, []
    target = scope.target
    current = obj if obj is not None else old
    meta = (current or {}).get("metadata") or {}
    attrs = Attributes(operation=operation, kind=target.kind,
                       subresource=target.subresource or "",
                       namespace=meta.get("namespace") or target.namespace,
                       name=str(meta.get("name") or target.name or ""),
                       obj=obj, old=old, dry_run=dry_run)
    return await dispatcher.admit(attrs, requester_of(scope.user),
                                  revalidator(target.kind, old))
