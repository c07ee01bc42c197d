"""Watch streams (reference §8), served from the watch cache.

A watch is a chunked response of newline-delimited ``{"type", "object"}`` events. Start points:
``resourceVersion`` unset or ``0`` → synthetic ADDED for the current state, then changes; ``N`` →
changes after N, or one ERROR event with a 410 ``Expired`` Status when N is older than the
cache's window. Selectors turn objects leaving the selection into DELETED and entering it into
ADDED. Bookmarks keep idle clients' resourceVersions fresh; ``timeoutSeconds`` ends the stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable

from aiohttp import web
from multidict import MultiMapping

from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.api.selectors import FieldRequirement, FieldSelector, field_value
from kboot.controlplane.apiserver.codec import OBJECT_FILTER, wants_table
from kboot.controlplane.apiserver.errors import JsonObj, StatusError, bad_request
from kboot.controlplane.apiserver.fanout import IndexSpec, Subscriber
from kboot.controlplane.apiserver.listing import (
    parse_resource_version,
    parse_selectors,
    table_options,
)
from kboot.controlplane.apiserver.state import Scope, ServerState
from kboot.controlplane.apiserver.strategy import Strategy
from kboot.controlplane.apiserver.watchcache import CacheEvent, KindCache, event_line
from kboot.controlplane.client.clock import Clock

log = logging.getLogger(__name__)
CLIENT_CHECK_SECONDS = 5.0


def _line(event_type: str, obj: JsonObj) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


def classify(event: CacheEvent, matches: Callable[[JsonObj], bool], namespace: str | None
             ) -> tuple[str, JsonObj] | None:
    """The event this watcher sees (selection changes become ADDED/DELETED), or None."""
    if namespace and event.obj["metadata"].get("namespace") != namespace:
        return None
    now_in = event.type != "DELETED" and matches(event.obj)
    was_in = event.prev is not None and matches(event.prev)
    if event.type == "DELETED":
        return ("DELETED", event.obj) if matches(event.obj) else None
    if now_in and was_in:
        return "MODIFIED", event.obj
    if now_in:
        return "ADDED", event.obj
    if was_in:
        return "DELETED", event.obj
    return None


def watch_matcher(strategy: Strategy, query: MultiMapping[str], name: str | None
                  ) -> Callable[[JsonObj], bool]:
    """What a watch delivers: the caller's parsed selectors, and for a named watch
    (``…/pods/<name>?watch=true``) only that object.

    The name is added to the *parsed* field selector, never spliced into its text (a selector
    ending in a backslash would escape the joining comma and drop the name). As upstream, a
    named watch whose own field selector does not pin the same ``metadata.name`` is a 400."""
    labels, fields = parse_selectors(strategy, query)
    if name is not None:
        if fields.requirements and fields.value_for("metadata.name") != name:
            raise bad_request("fieldSelector metadata.name doesn't match requested name")
        if not fields.requirements:
            fields = FieldSelector(fields.kind, (FieldRequirement("metadata.name", "=", name),))

    def matches(obj: JsonObj) -> bool:
        return labels.matches(obj["metadata"].get("labels") or {}) and fields.matches(obj)
    return matches


def selection_index(strategy: Strategy, query: MultiMapping[str], name: str | None
                    ) -> IndexSpec | None:
    """An equality the watch's selection requires, for the cache's subscriber index: the
    watched name, else the first ``field=value``, else the first ``label=value`` (or ``label
    in (value)``). None when the selection pins nothing (the watcher sees every event)."""
    labels, fields = parse_selectors(strategy, query)
    kind_name = fields.kind

    def field_of(field: str) -> Callable[[JsonObj], str | None]:
        return lambda obj: field_value(kind_name, obj, field)

    def label_of(key: str) -> Callable[[JsonObj], str | None]:
        return lambda obj: (obj["metadata"].get("labels") or {}).get(key)

    if name is not None:
        return IndexSpec("field:metadata.name", field_of("metadata.name"), name)
    for req in fields.requirements:
        if req.op == "=":
            return IndexSpec(f"field:{req.field}", field_of(req.field), req.value)
    for label in labels.requirements:
        if label.op in ("=", "==", "in") and len(label.values) == 1:
            return IndexSpec(f"label:{label.key}", label_of(label.key), label.values[0])
    return None


class _Stream:
    """Writes events to one client, as plain objects or one-row Tables."""

    def __init__(self, request: web.Request, response: web.StreamResponse, strategy: Strategy,
                 table: str | None, clock: Clock) -> None:
        self.request = request
        self.response = response
        self.strategy = strategy
        self.clock = clock
        self.table = table  # includeObject value when Table output was asked for
        self.sent_columns = False

    def client_gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()

    async def send(self, event_type: str, obj: JsonObj, cached: CacheEvent | None = None,
                   *, body: bytes | None = None) -> None:
        convert = self.request.get(OBJECT_FILTER)
        if convert is not None and event_type != "ERROR":  # another version's view
            obj, cached, body = await convert(obj), None, None
        if self.table is not None and event_type not in ("BOOKMARK", "ERROR"):
            table = self.strategy.to_table([obj], include_object=self.table,
                                           now=self.clock.now(),
                                           include_columns=not self.sent_columns)
            table["metadata"] = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            self.sent_columns = True
            await self.response.write(_line(event_type, table))
        elif cached is not None and cached.type == event_type:
            await self.response.write(cached.line())
        elif cached is not None:
            await self.response.write(event_line(event_type, cached.body()))
        elif body is not None:
            await self.response.write(event_line(event_type, body))
        else:
            await self.response.write(_line(event_type, obj))


MAX_INT64 = 2**63 - 1
MAX_WATCH_SECONDS = 10**9  # ~31 years: longer is forever, and loop.call_at needs a float


def _bookmark(kind: ResourceKind, rv: int) -> JsonObj:
    return {"kind": kind.kind, "apiVersion": kind.api_version,
            "metadata": {"resourceVersion": str(rv)}}


def _timeout(scope: Scope, state: ServerState) -> float:
    raw = scope.query.get("timeoutSeconds", "")
    if raw:
        try:
            seconds = int(raw)
        except ValueError:
            seconds = -1
        if not 0 <= seconds <= MAX_INT64:  # upstream parses an int64 (a float overflowed here)
            raise bad_request(f"invalid timeoutSeconds: {raw!r}")
        return float(min(seconds, MAX_WATCH_SECONDS))
    base = state.config.min_request_timeout
    return float(base + random.randint(0, base))


async def watch_handler(state: ServerState, scope: Scope, request: web.Request
                        ) -> web.StreamResponse:
    kind, target = scope.target.kind, scope.target
    strategy = state.strategy(kind)
    matches = watch_matcher(strategy, scope.query, target.name)
    index = selection_index(strategy, scope.query, target.name)
    table = table_options(scope) if wants_table(request.headers.get("Accept", "")) else None
    deadline = state.clock.monotonic() + _timeout(scope, state)
    cache = await state.caches.get(kind)
    start_rv = parse_resource_version(scope.query)
    response = web.StreamResponse(headers={"Content-Type": "application/json",
                                           "Cache-Control": "no-cache, private"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    stream = _Stream(request, response, strategy, table, state.clock)
    state.metrics.watch_started(kind.group, kind.plural)
    try:
        await _serve(state, scope, cache, stream, matches, index, start_rv, deadline)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        state.metrics.watch_ended(kind.group, kind.plural)
    return response


async def _serve(state: ServerState, scope: Scope, cache: KindCache, stream: _Stream,
                 matches: Callable[[JsonObj], bool], index: IndexSpec | None, start_rv: int,
                 deadline: float) -> None:
    ns = scope.target.namespace

    def accepts(event: CacheEvent) -> bool:
        return classify(event, matches, ns) is not None

    if start_rv == 0:
        keys, rev = cache.keys(ns), cache.revision
        sub = cache.subscribe(rev, ns, accepts, index)
        for key in keys:
            obj = cache.objects.get(key)
            if obj is not None and matches(obj):
                await stream.send("ADDED", obj, body=cache.encoded_of(key))
        if scope.flag("sendInitialEvents") and scope.flag("allowWatchBookmarks"):
            # streaming lists (KEP-3157): tell the client the initial state is complete
            mark = _bookmark(scope.target.kind, rev)
            mark["metadata"]["annotations"] = {"k8s.io/initial-events-end": "true"}
            await stream.send("BOOKMARK", mark)
    else:
        try:
            sub = cache.subscribe(start_rv, ns, accepts, index)
        except StatusError as err:
            await stream.send("ERROR", err.status())
            return
    try:
        await _follow(state, scope, cache, sub, stream, matches, ns,
                      last_rv=max(start_rv, sub.after), deadline=deadline)
    finally:
        cache.unsubscribe(sub)


async def _follow(state: ServerState, scope: Scope, cache: KindCache, sub: Subscriber,
                  stream: _Stream, matches: Callable[[JsonObj], bool], namespace: str | None, *,
                  last_rv: int, deadline: float) -> None:
    bookmarks = scope.flag("allowWatchBookmarks")
    interval = state.config.bookmark_interval
    clock = state.clock
    next_bookmark = clock.monotonic() + interval
    kind = scope.target.kind
    while not sub.closed or sub.queue:
        now = clock.monotonic()
        if now >= deadline:
            return
        wait = min(deadline - now, next_bookmark - now if bookmarks else deadline - now,
                   CLIENT_CHECK_SECONDS)
        if stream.client_gone():
            return  # the client went away; do not hold the subscription until the next event
        for event in await sub.next_batch(max(wait, 0.001)):
            seen = classify(event, matches, namespace)
            last_rv = max(last_rv, event.rv)
            if seen is not None:
                await stream.send(seen[0], seen[1], event)
        if bookmarks and clock.monotonic() >= next_bookmark:
            await stream.send("BOOKMARK", _bookmark(kind, max(last_rv, cache.revision)))
            next_bookmark = clock.monotonic() + interval


