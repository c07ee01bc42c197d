"""The one call the write path makes: :func:`review` a create, update or delete.

Kept apart from the dispatcher so that the handlers' side stays one line per write kind and
the dispatcher knows nothing of requests, scopes or the server state.
"""

from __future__ import annotations

from kboot.controlplane.apiserver.errors import invalid
from kboot.controlplane.apiserver.state import Scope, ServerState
from kboot.controlplane.apiserver.strategy import Strategy
from kboot.controlplane.apiserver.webhooks.dispatcher import Revalidate
from kboot.controlplane.apiserver.webhooks.matching import Attributes, JsonObj


def revalidator(strategy: Strategy, old: JsonObj | None) -> Revalidate:
    """Default and validate an object a webhook changed, as the write path did before (with
    the kind's strategy, so run-time kinds are checked against their own schema)."""
    def run(obj: JsonObj) -> JsonObj:
        obj = strategy.default(strategy.normalize(obj))
        causes = strategy.validate(obj, old)
        if causes:
            raise invalid(strategy.kind, (obj.get("metadata") or {}).get("name", ""), causes)
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
    return await dispatcher.admit(attrs, scope.user,
                                  revalidator(state.strategy(target.kind), old))


async def review_body(state: ServerState, scope: Scope, *, operation: str, obj: JsonObj,
                      old: JsonObj | None, body_kind: tuple[str, str, str], dry_run: bool
                      ) -> tuple[JsonObj, list[str]]:
    """A subresource write whose body is its own kind (``deployments/scale`` → Scale,
    ``pods/binding`` → Binding, ``pods/eviction`` → Eviction): webhooks matching the
    subresource see that body (as upstream); a mutating webhook's patch applies to it and the
    caller types the result again."""
    dispatcher = state.webhooks
    if dispatcher is None:
        return obj, []
    target = scope.target
    attrs = Attributes(operation=operation, kind=target.kind,
                       subresource=target.subresource or "", namespace=target.namespace,
                       name=target.name or "", obj=obj, old=old, dry_run=dry_run,
                       body_kind=body_kind)
    reviewed, warnings = await dispatcher.admit(attrs, scope.user, lambda new: new)
    assert reviewed is not None
    return reviewed, warnings


_CONNECT_OPTIONS = {"exec": "PodExecOptions", "attach": "PodAttachOptions"}
_STREAM_FLAGS = ("stdin", "stdout", "stderr", "tty")


def connect_options(scope: Scope, container: str) -> JsonObj:
    """The ``PodExecOptions``/``PodAttachOptions`` a CONNECT review carries, from the query."""
    sub = scope.target.subresource or "exec"
    options: JsonObj = {"kind": _CONNECT_OPTIONS.get(sub, "PodExecOptions"),
                        "apiVersion": "v1", "container": container}
    for flag in _STREAM_FLAGS:
        options[flag] = scope.query.get(flag, "").lower() in ("true", "1")
    if sub == "exec":
        options["command"] = list(scope.query.getall("command", []))
    return options


async def review_connect(state: ServerState, scope: Scope, options: JsonObj) -> None:
    """CONNECT (``pods/exec``, ``pods/attach``): webhooks may refuse the stream; the options
    are not changed by a mutating webhook's patch (there is no object to store)."""
    if state.webhooks is None:
        return
    target = scope.target
    attrs = Attributes(operation="CONNECT", kind=target.kind,
                       subresource=target.subresource or "", namespace=target.namespace,
                       name=target.name or "", obj=options, old=None)
    await state.webhooks.admit(attrs, scope.user, lambda obj: obj)
