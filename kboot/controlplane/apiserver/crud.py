"""Create, get, replace and delete of single objects (and ``deletecollection``).

Each handler takes the server state and the parsed request scope and returns an aiohttp
response; errors are raised as StatusError. Deletion follows upstream's lifecycle: finalizers and
the Foreground/Orphan policies only mark the object (``deletionTimestamp``), a kind whose
strategy gives a grace period (a scheduled pod) is deleted gracefully, everything else goes at
once. What differs per kind is asked of the kind's :class:`~.strategy.Strategy`; this module
names no kind.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

from aiohttp import web

from kboot.controlplane.api.registry import ResourceKind, lookup
from kboot.controlplane.apiserver import admission, escalation, resourcequota, storageadmission
from kboot.controlplane.apiserver.admission import WriteOptions
from kboot.controlplane.apiserver.bodies import typed_body
from kboot.controlplane.apiserver.codec import (
    decode,
    json_response,
    media_type,
    read_object,
)
from kboot.controlplane.apiserver.errors import (
    JsonObj,
    StatusError,
    bad_request,
    conflict,
    forbidden,
    not_found,
    unsupported_media,
)
from kboot.controlplane.apiserver.state import Scope, ServerState
from kboot.controlplane.apiserver.storage import revision_of
from kboot.controlplane.apiserver.strategy import Strategy
from kboot.controlplane.apiserver.webhooks import write as webhooks
from kboot.controlplane.apiserver.writes import guarded_update
from kboot.controlplane.store.base import PrefixNotEmpty

NAMESPACES = lookup("", "namespaces")
assert NAMESPACES is not None


def warning_headers(problems: list[str]) -> dict[str, str]:
    """``Warning: 299 - "<text>"`` per problem; text is escaped to printable ASCII (field
    names come from client input and must never inject into the header)."""
    if not problems:
        return {}
    return {"Warning": ", ".join(f'299 - "{_header_safe(p)}"' for p in problems)}


def _header_safe(text: str) -> str:
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif " " <= c <= "~":
            out.append(c)
        else:
            out.append(f"\\u{ord(c):04x}")
    return "".join(out)


PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml")


async def read_object_body(request: web.Request, *, empty: JsonObj | None = None
                           ) -> tuple[JsonObj, list[str]]:
    """A create/update body: one object, never in a patch media type (415 as upstream: a
    patch is not an object, and decoding it as one would silently drop its directives).
    Large bodies are decoded off the loop; ``empty`` stands for a blank body, as in
    :func:`~.codec.read_object`."""
    media = media_type(request)
    if media in PATCH_TYPES:
        raise unsupported_media(media)
    return await read_object(request, empty=empty)


async def ensure_namespace(state: ServerState, kind: ResourceKind, namespace: str | None) -> None:
    """A namespaced create needs an existing, non-terminating namespace."""
    if not kind.namespaced or namespace is None:
        return
    assert NAMESPACES is not None
    cache = state.caches.peek(NAMESPACES)
    ns = cache.objects.get(NAMESPACES.key(None, namespace))
    if ns is None:
        kv = await state.storage.store.get(NAMESPACES.key(None, namespace))
        if kv is None:
            raise not_found(NAMESPACES, namespace)
        ns = state.storage.decode(kv)
    if ns["metadata"].get("deletionTimestamp"):
        raise forbidden(kind.plural, kind.group, "",
                        f"{kind.plural} is forbidden: unable to create new content in namespace "
                        f"{namespace} because it is being terminated")


async def create(state: ServerState, scope: Scope, request: web.Request) -> web.Response:
    target = scope.target
    if target.name is not None:
        raise StatusError(405, "MethodNotAllowed", "POST is not supported on a named object")
    body, dups = await read_object_body(request)
    obj = await create_object(state, scope, body, dups)
    return json_response(obj[0], 201, headers=warning_headers(obj[1]))


async def create_object(state: ServerState, scope: Scope, body: JsonObj,
                        duplicates: list[str], *, applied: bool = False
                        ) -> tuple[JsonObj, list[str]]:
    """The shared create path (also used by server-side apply upserts)."""
    kind = scope.target.kind
    strategy = state.strategy(kind)
    opts = scope.write_options()
    admission.check_type(strategy, body)
    problems = admission.field_warnings(strategy, body, duplicates, opts)
    obj = admission.admit_create(strategy, body, namespace=scope.target.namespace, opts=opts,
                                 now=state.clock.now(), user=scope.user, applied=applied)
    escalation.guard(state.authorizer, scope.user, kind, new=obj, old=None,
                     namespace=obj["metadata"].get("namespace"), url_name=scope.target.name)
    await ensure_namespace(state, kind, obj["metadata"].get("namespace"))
    obj = await strategy.admit_create(state, obj)
    try:
        reviewed, more = await webhooks.review(state, scope, operation="CREATE", obj=obj,
                                               old=None, dry_run=opts.dry_run)
        assert reviewed is not None
        # the last step; ``unquoted``: the store write is conditional on the namespace still
        # having no quota (see resourcequota's docstring)
        unquoted = await resourcequota.admit(state, kind, reviewed, dry_run=opts.dry_run)
    except StatusError:
        await strategy.release(state, obj)
        raise
    obj, problems = reviewed, problems + more
    if opts.dry_run:
        await strategy.release(state, obj)
        return obj, problems
    try:
        try:
            return await state.storage.create(kind, obj, absent=unquoted), problems
        except PrefixNotEmpty:  # a quota appeared that the cache does not hold yet: charge it
            await resourcequota.admit_exact(state, kind, obj)
            unquoted = None
        return await state.storage.create(kind, obj), problems
    except StatusError:
        await strategy.release(state, obj)
        if unquoted is None:
            await resourcequota.release(state, kind, obj)
        raise


async def get(state: ServerState, scope: Scope) -> web.Response:
    target = scope.target
    assert target.name is not None
    obj = await state.storage.get(target.kind, target.namespace, target.name)
    return json_response(obj)


async def replace(state: ServerState, scope: Scope, request: web.Request) -> web.Response:
    """PUT of the main resource or its ``status``."""
    target, kind = scope.target, scope.target.kind
    assert target.name is not None
    body, dups = await read_object_body(request)
    opts = scope.write_options()
    strategy = state.strategy(kind)
    admission.check_type(strategy, body)
    problems = admission.field_warnings(strategy, body, dups, opts)
    if (body.get("metadata") or {}).get("namespace") not in (None, target.namespace):
        raise bad_request("the namespace of the provided object does not match the namespace "
                          "sent on the request")

    def compute(current: JsonObj) -> JsonObj:
        admission.ensure_rv_matches(kind, body, current)
        return admission.admit_update(strategy, current, body, subresource=target.subresource,
                                      opts=opts, now=state.clock.now())

    obj = await update_with_allocation(state, scope, compute, opts, warnings=problems)
    return json_response(obj, headers=warning_headers(problems))


async def update_with_allocation(state: ServerState, scope: Scope,
                                 compute: Any, opts: WriteOptions, *,
                                 warnings: list[str] | None = None) -> JsonObj:
    """guarded_update plus Service IP/port bookkeeping and admission webhooks (whose warnings
    of the attempt that was stored extend ``warnings``)."""
    target, kind = scope.target, scope.target.kind
    assert target.name is not None
    strategy = state.strategy(kind)
    previous: list[JsonObj] = []
    hook_warnings: list[str] = []

    async def review(new: JsonObj, current: JsonObj) -> JsonObj:
        obj, hook_warnings[:] = await webhooks.review(state, scope, operation="UPDATE", obj=new,
                                                      old=current, dry_run=opts.dry_run)
        assert obj is not None
        return obj

    def with_alloc(current: JsonObj) -> JsonObj:
        previous[:] = [current]
        new = compute(current)
        storageadmission.check_node_write(scope.user, kind, new, current)
        escalation.guard(state.authorizer, scope.user, kind, namespace=target.namespace,
                         url_name=target.name, new=new, old=current)
        return strategy.admit_update(state, new, current)

    obj = await guarded_update(state.storage, kind, target.namespace, target.name, with_alloc,
                               dry_run=opts.dry_run, review=review)
    if warnings is not None:
        warnings.extend(hook_warnings)
    return obj


def _read_delete_options(raw: bytes, content_type: str, scope: Scope) -> JsonObj:
    body: Any = {}
    if raw.strip():
        body = decode(raw, content_type or "application/json").value
    return delete_options(body, scope)


_INT64 = (-(2**63), 2**63 - 1)


def _query_grace(text: str) -> int:
    try:
        grace = int(text)
    except ValueError:
        raise bad_request(f'invalid value for gracePeriodSeconds: "{text}": must be an '
                          "integer") from None
    if not _INT64[0] <= grace <= _INT64[1]:
        raise bad_request(f'invalid value for gracePeriodSeconds: "{text}": out of range')
    return grace


def delete_options(body: Any, scope: Scope) -> JsonObj:
    """``DeleteOptions`` from a body (typed by its schema) and the query, which wins."""
    opts = typed_body("DeleteOptions", body, group="meta.k8s.io")
    q = scope.query
    if "propagationPolicy" in q:
        opts["propagationPolicy"] = q["propagationPolicy"]
    if "gracePeriodSeconds" in q:
        opts["gracePeriodSeconds"] = _query_grace(q["gracePeriodSeconds"])
    if "dryRun" in q:
        opts["dryRun"] = q.getall("dryRun")
    policy = opts.get("propagationPolicy")
    if policy not in (None, "Foreground", "Background", "Orphan"):
        raise bad_request(f'Unsupported propagationPolicy "{policy}"')
    for value in opts.get("dryRun") or ():
        if value != "All":
            raise bad_request(f'unsupported dryRun value "{value}"; only "All" is supported')
    grace = opts.get("gracePeriodSeconds")
    if grace is not None and grace < 0:
        opts["gracePeriodSeconds"] = 1
    return opts


def _check_preconditions(kind: ResourceKind, obj: JsonObj, opts: JsonObj) -> None:
    pre = opts.get("preconditions") or {}
    meta = obj["metadata"]
    if pre.get("uid") and pre["uid"] != meta.get("uid"):
        raise conflict(kind, meta["name"], f"Precondition failed: UID in precondition: "
                       f"{pre['uid']}, UID in object meta: {meta.get('uid')}")
    if pre.get("resourceVersion") and str(pre["resourceVersion"]) != meta.get("resourceVersion"):
        raise conflict(kind, meta["name"], f"Precondition failed: ResourceVersion in "
                       f"precondition: {pre['resourceVersion']}, ResourceVersion in object "
                       f"meta: {meta.get('resourceVersion')}")


# terminationGracePeriodSeconds is an int64: a grace of 10**18 s must still give a
# deletionTimestamp (Python's datetime ends at year 9999); a century is "never" for a pod.
_MAX_GRACE = 100 * 365 * 24 * 3600


def mark_deleting(strategy: Strategy, obj: JsonObj, opts: JsonObj, *,
                  now: datetime.datetime) -> JsonObj:
    """The object after a DELETE request (removal happens when it qualifies)."""
    new = copy.deepcopy(obj)
    meta = new["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    policy = opts.get("propagationPolicy")
    marker = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(policy or "")
    if marker and marker not in finalizers and strategy.propagation_marks:
        finalizers.append(marker)
    if finalizers:
        meta["finalizers"] = finalizers
    grace = strategy.grace_seconds(obj, opts)
    if meta.get("deletionTimestamp"):
        old_grace = meta.get("deletionGracePeriodSeconds")
        if old_grace is not None and grace >= old_grace:
            return new
    meta["deletionTimestamp"] = (now + datetime.timedelta(seconds=min(grace, _MAX_GRACE))
                                 ).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta["deletionGracePeriodSeconds"] = grace
    strategy.mark_terminating(new)
    return new


async def delete_object(state: ServerState, scope: Scope, name: str, opts: JsonObj) -> JsonObj:
    kind, ns = scope.target.kind, scope.target.namespace
    strategy = state.strategy(kind)
    dry_run = bool(opts.get("dryRun"))
    now = state.clock.now()

    def compute(current: JsonObj) -> JsonObj:
        _check_preconditions(kind, current, opts)
        return mark_deleting(strategy, current, opts, now=now)

    current = await state.storage.get(kind, ns, name)
    new = compute(current)  # preconditions first, even for immediate deletes
    await webhooks.review(state, scope, operation="DELETE", obj=None, old=current,
                          dry_run=dry_run)
    if admission.is_being_removed(strategy, new):
        if dry_run:
            return current
        deleted = await state.storage.delete(kind, current, expected=revision_of(current))
        await strategy.release(state, current)
        await resourcequota.release(state, kind, current)
        return deleted
    return await guarded_update(state.storage, kind, ns, name, compute, dry_run=dry_run)


async def delete(state: ServerState, scope: Scope, request: web.Request) -> web.Response:
    target = scope.target
    opts = _read_delete_options(await request.read(), media_type(request), scope)
    if target.name is None:
        return await delete_collection(state, scope, opts)
    for _ in range(3):
        try:
            obj = await delete_object(state, scope, target.name, opts)
            return json_response(obj)
        except StatusError as err:
            if err.reason != "Conflict" or "Precondition" in err.message:
                raise
    obj = await delete_object(state, scope, target.name, opts)
    return json_response(obj)


async def delete_collection(state: ServerState, scope: Scope, opts: JsonObj) -> web.Response:
    from kboot.controlplane.apiserver.listing import parse_selectors
    kind = scope.target.kind
    labels, fields = parse_selectors(state.strategy(kind), scope.query)
    page = await state.storage.list(kind, scope.target.namespace)
    deleted = []
    for obj in page.items:
        if not (labels.matches(obj["metadata"].get("labels") or {}) and fields.matches(obj)):
            continue
        try:
            deleted.append(await delete_object(state, scope, obj["metadata"]["name"], opts))
        except StatusError as err:
            if err.code != 404:
                raise
    return json_response({"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                          "metadata": {"resourceVersion": str(page.revision)},
                          "items": deleted})
