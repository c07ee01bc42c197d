"""List: selectors, pagination with continue tokens, resourceVersion semantics, Table output.

``resourceVersion`` unset reads the store's current revision, waits until the watch cache
reflects it and answers from the cache (upstream's consistent read from cache,
``WatchCaches.fresh``); a cache that does not get there within 3 s leaves the list to the store
(a quorum read). ``0`` answers from the watch cache at once; ``N`` reads at revision N (410 when
compacted).
Continue tokens are upstream's shape — unpadded base64url of
``{"v":"meta.k8s.io/v1","rv":R,"start":"<key after the prefix>\\u0000"}`` — so a page chain is a
consistent snapshot at R.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from kboot.controlplane.api import selectors
from kboot.controlplane.api.errors import ApiRuleError
from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.apiserver.codec import dumps, json_response, wants_table
from kboot.controlplane.apiserver.errors import JsonObj, StatusError, bad_request
from kboot.controlplane.apiserver.state import Scope, ServerState
from kboot.controlplane.apiserver.storage import collection_prefix
from kboot.controlplane.apiserver.strategy import Strategy
from kboot.controlplane.apiserver.watchcache import KindCache

MAX_PAGE_SCAN = 1000
CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list.")


def parse_selectors(strategy: Strategy, query: MultiMapping[str]
                    ) -> tuple[selectors.LabelSelector, selectors.FieldSelector]:
    """The request's label and field selectors (the kind's strategy knows its fields)."""
    try:
        return (selectors.parse_label_selector(query.get("labelSelector")),
                strategy.field_selector(query.get("fieldSelector")))
    except ApiRuleError as err:
        raise bad_request(err.message) from None
    except ValueError as err:
        raise bad_request(str(err)) from None


def encode_continue(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start + "\u0000"},
                     separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_continue(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        rv, start = int(data["rv"]), str(data["start"])
        start.encode()  # a key is UTF-8: a lone surrogate cannot name one
    except (ValueError, KeyError, TypeError, OverflowError, UnicodeError, RecursionError):
        raise bad_request("continue key is not valid: invalid continue token") from None
    if data.get("v") != "meta.k8s.io/v1" or not 0 < rv <= MAX_REVISION:
        raise bad_request("continue key is not valid: incorrect encoded start resourceVersion")
    return rv, start.rstrip("\u0000")


MAX_REVISION = 2**63 - 1  # store revisions are int64 (etcd's); larger is not a version
_MAX_LIMIT = 2**31  # more objects than any store holds: a larger limit means the same


def _int_param(query: MultiMapping[str], name: str) -> int:
    value = query.get(name, "") or "0"
    try:
        n = int(value)
    except ValueError:
        raise bad_request(f"invalid {name} parameter: {value!r}") from None
    if n < 0:
        raise bad_request(f"{name} must be non-negative")
    if n > MAX_REVISION:
        raise bad_request(f"invalid {name} parameter: {value!r}: out of range")
    return n


def parse_resource_version(query: MultiMapping[str]) -> int:
    """``resourceVersion`` as an int64 revision (0 when unset); 400 for anything else, as
    upstream (which parses it as an unsigned integer before reading anything)."""
    text = query.get("resourceVersion", "") or "0"
    try:
        rv = int(text)
    except ValueError:
        rv = -1
    if not 0 <= rv <= MAX_REVISION:
        raise bad_request(f'invalid resourceVersion "{text}": resourceVersion: Invalid value: '
                          "must be an unsigned 64-bit integer that names a store revision")
    return rv


def check_resource_version_match(query: MultiMapping[str]) -> None:
    """``resourceVersionMatch``: ``NotOlderThan`` or ``Exact``, and only with a
    ``resourceVersion`` (``Exact`` not with ``0``), as upstream's list options validation."""
    match = query.get("resourceVersionMatch", "")
    if not match:
        return
    if match not in ("NotOlderThan", "Exact"):
        raise bad_request(f'resourceVersionMatch: Unsupported value: "{match}": supported '
                          'values: "Exact", "NotOlderThan"')
    rv = query.get("resourceVersion", "")
    if not rv:
        raise bad_request("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden "
                          "unless resourceVersion is provided")
    if match == "Exact" and rv == "0":
        raise bad_request('resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is '
                          'forbidden for resourceVersion "0"')


def _matcher(strategy: Strategy, query: MultiMapping[str]) -> Any:
    labels, fields = parse_selectors(strategy, query)

    def matches(obj: JsonObj) -> bool:
        return labels.matches(obj["metadata"].get("labels") or {}) and fields.matches(obj)
    return matches


async def list_objects(state: ServerState, scope: Scope, *, try_cache: bool = True
                       ) -> tuple[list[JsonObj], JsonObj]:
    """Matching objects and the list metadata (resourceVersion, continue); ``try_cache`` False
    when the caller has already found the cache not fresh enough for a consistent list."""
    kind, ns, q = scope.target.kind, scope.target.namespace, scope.query
    matches = _matcher(state.strategy(kind), q)
    limit = min(_int_param(q, "limit"), _MAX_LIMIT)
    rv_param = q.get("resourceVersion", "")
    parse_resource_version(q)
    check_resource_version_match(q)
    token = q.get("continue", "")
    if token and rv_param:
        raise bad_request("specifying resource version is not allowed when using continue")
    if rv_param == "0" and not token:
        cache = await state.caches.get(kind)
        items, rev = cache.snapshot(ns)
        return [o for o in items if matches(o)], {"resourceVersion": str(rev)}
    if not token and not rv_param and try_cache:
        cached = await _fresh_from_cache(state, kind, ns, matches, limit)
        if cached is not None:
            return cached
    revision, start = (0, "")
    if token:
        revision, start = decode_continue(token)
    elif rv_param:
        revision = parse_resource_version(q)
    prefix = collection_prefix(kind, ns)
    return await _paged(state, kind, ns, matches, limit=limit, revision=revision,
                        start=prefix + start if start else "", from_token=bool(token))


async def _fresh_from_cache(state: ServerState, kind: ResourceKind, ns: str | None,
                            matches: Any, limit: int) -> tuple[list[JsonObj], JsonObj] | None:
    """A consistent list from the watch cache once it reflects the store's current revision;
    None when the store must be read."""
    cache = await state.caches.fresh(kind)
    if cache is None:
        return None
    rev, prefix = cache.revision, collection_prefix(kind, ns)
    items: list[JsonObj] = []
    for key in cache.keys(ns):
        obj = cache.objects[key]
        if not matches(obj):
            continue
        if limit and len(items) == limit:
            last = items[-1]["metadata"]
            start = kind.key(last.get("namespace"), last["name"])[len(prefix):]
            return items, {"resourceVersion": str(rev), "continue": encode_continue(rev, start)}
        items.append(obj)
    return items, {"resourceVersion": str(rev)}


async def _paged(state: ServerState, kind: ResourceKind, ns: str | None, matches: Any, *,
                 limit: int, revision: int, start: str, from_token: bool
                 ) -> tuple[list[JsonObj], JsonObj]:
    prefix = collection_prefix(kind, ns)
    items: list[JsonObj] = []
    while True:
        want = limit - len(items) if limit else 0
        try:
            page = await state.storage.list(kind, ns, revision=revision,
                                            limit=max(want, min(MAX_PAGE_SCAN, want * 2))
                                            if limit else 0, start_after=start)
        except StatusError as err:
            if err.code == 410 and from_token:
                raise StatusError(410, "Expired", CONTINUE_EXPIRED) from None
            raise
        revision = page.revision
        for obj in page.items:
            if matches(obj):
                items.append(obj)
                if limit and len(items) == limit:
                    last = kind.key(obj["metadata"].get("namespace"), obj["metadata"]["name"])
                    more = page.more or obj is not page.items[-1]
                    meta: JsonObj = {"resourceVersion": str(revision)}
                    if more:
                        meta["continue"] = encode_continue(revision, last[len(prefix):])
                    return items, meta
        if not page.more:
            return items, {"resourceVersion": str(revision)}
        start = page.last_key


def table_options(scope: Scope) -> str:
    include = scope.query.get("includeObject", "Metadata") or "Metadata"
    if include not in ("None", "Metadata", "Object"):
        raise bad_request(f'includeObject must be one of None, Metadata, Object, got "{include}"')
    return include


def _cached_list_body(state: ServerState, scope: Scope, cache: KindCache) -> bytes:
    """A list from the cache's pre-serialised objects."""
    kind, ns = scope.target.kind, scope.target.namespace
    matches = _matcher(state.strategy(kind), scope.query)
    rev = cache.revision
    bodies = [cache.encoded_of(k) for k in cache.keys(ns) if matches(cache.objects[k])]
    head = dumps({"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                  "metadata": {"resourceVersion": str(rev)}})
    return head[:-1] + b',"items":[' + b",".join(bodies) + b"]}"


async def _whole_from_cache(state: ServerState, scope: Scope) -> KindCache | None:
    """The cache when the whole list can be its pre-serialised objects: ``resourceVersion=0``,
    or a consistent list (no resourceVersion, no limit) once the cache reflects the store's
    revision read after the request arrived, so every acknowledged write is in it."""
    rv_param = scope.query.get("resourceVersion", "")
    if rv_param == "0":
        return await state.caches.get(scope.target.kind)
    if rv_param or _int_param(scope.query, "limit"):
        return None
    return await state.caches.fresh(scope.target.kind)


async def list_handler(state: ServerState, scope: Scope, request: web.Request) -> web.Response:
    kind = scope.target.kind
    table = wants_table(request.headers.get("Accept", ""))
    check_resource_version_match(scope.query)
    tried = False
    if not table and not scope.query.get("continue"):
        cache = await _whole_from_cache(state, scope)
        if cache is not None:
            return web.Response(body=_cached_list_body(state, scope, cache),
                                headers={"Content-Type": "application/json"})
        tried = not scope.query.get("resourceVersion") and not _int_param(scope.query, "limit")
    items, meta = await list_objects(state, scope, try_cache=not tried)
    if table:
        doc = state.strategy(kind).to_table(items, include_object=table_options(scope),
                                            now=state.clock.now())
        doc["metadata"] = meta
        return json_response(doc)
    return json_response({"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                          "metadata": meta, "items": items})
