"""The admission step that calls webhooks, in upstream's order.

The write path has already run built-in mutating admission (defaults, server-set fields,
allocations) and schema validation. Here: mutating webhooks one after the other, each seeing
the previous one's patch; with ``reinvocationPolicy: IfNeeded`` a webhook runs once more when a
later one changed the object; a mutated object is defaulted and validated again; then the
validating webhooks, all at once. The first denial (in configuration order) refuses the
write; a call that fails is ignored or refuses the write by its ``failurePolicy``.

Configurations are read from the watch cache (which follows the store's watch), parsed once
per cache revision, so a change reaches every apiserver of the cluster within a watch event.
Writes of kinds no webhook matches cost one dictionary walk and no I/O.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from kboot.controlplane.api.matchconditions import evaluate
from kboot.controlplane.api.registry import ResourceKind, lookup
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.errors import StatusError, bad_request, internal
from kboot.controlplane.apiserver.watchcache import WatchCaches
from kboot.controlplane.apiserver.webhooks.client import (
    CallError,
    WebhookClient,
    resolve_from_objects,
)
from kboot.controlplane.apiserver.webhooks.matching import (
    EXEMPT_GROUPS,
    Attributes,
    JsonObj,
    Webhook,
    matches,
    webhooks_of,
)
from kboot.controlplane.apiserver.webhooks.review import (
    ReviewError,
    Verdict,
    apply_patch,
    build_request,
    denial,
    read_response,
)

log = logging.getLogger(__name__)



def _kind(group: str, plural: str) -> ResourceKind:
    kind = lookup(group, plural)
    assert kind is not None, plural
    return kind


VALIDATING = _kind("admissionregistration.k8s.io", "validatingwebhookconfigurations")
MUTATING = _kind("admissionregistration.k8s.io", "mutatingwebhookconfigurations")
NAMESPACES = _kind("", "namespaces")
SERVICES = _kind("", "services")
ENDPOINTS = _kind("", "endpoints")

DRY_RUN_SAFE = ("None", "NoneOnDryRun")

# obj -> obj defaulted and validated again (raises the 422 of a mutated object)
Revalidate = Callable[[JsonObj], JsonObj]


@dataclass
class _Parsed:
    objects: dict[str, JsonObj]
    revision: int
    hooks: list[Webhook]


class WebhookDispatcher:
    """Calls the webhooks a write matches; one per apiserver, fed by its watch caches."""

    def __init__(self, caches: WatchCaches, client: WebhookClient | None = None) -> None:
        self.caches = caches
        self.client = client or WebhookClient(self.resolve_service)
        self._parsed: dict[bool, _Parsed] = {}

    async def close(self) -> None:
        await self.client.close()

    async def hooks(self, *, mutating: bool) -> list[Webhook]:
        """Every webhook of every configuration, ordered by configuration name (upstream)."""
        cache = await self.caches.get(MUTATING if mutating else VALIDATING)
        memo = self._parsed.get(mutating)
        if memo is None or memo.objects is not cache.objects or memo.revision != cache.revision:
            configs = sorted(cache.objects.values(), key=lambda c: c["metadata"]["name"])
            hooks = [h for c in configs for h in webhooks_of(c, mutating=mutating)]
            memo = self._parsed[mutating] = _Parsed(cache.objects, cache.revision, hooks)
        return memo.hooks

    def resolve_service(self, namespace: str, name: str, port: int) -> tuple[str, int]:
        svc = self.caches.peek(SERVICES).objects.get(SERVICES.key(namespace, name))
        eps = self.caches.peek(ENDPOINTS).objects.get(ENDPOINTS.key(namespace, name))
        return resolve_from_objects(svc, eps, port=port)

    async def _namespace_labels(self, attrs: Attributes) -> dict[str, str]:
        """The labels of the namespace a namespaced write is in: from the watch cache, else
        from the store (upstream's namespace matcher does the same live read). Each kind's
        cache follows its own store watch, so a namespace just created through another
        apiserver of the cluster can be missing here while a configuration written after it
        is already cached; without the read its webhooks would silently not match."""
        if not attrs.namespace or not attrs.kind.namespaced:
            return {}
        cache = self.caches.peek(NAMESPACES)
        ns = cache.objects.get(NAMESPACES.key(None, attrs.namespace))
        if ns is None:
            try:
                ns = await cache.storage.get(NAMESPACES, None, attrs.namespace)
            except StatusError as err:
                if err.code != 404:
                    raise
        return dict(((ns or {}).get("metadata") or {}).get("labels") or {})

    async def _matching(self, attrs: Attributes, *, mutating: bool) -> list[Webhook]:
        hooks = await self.hooks(mutating=mutating)
        if not hooks:
            return []
        labels = await self._namespace_labels(attrs)
        found = [h for h in hooks if matches(h, attrs, labels)]
        for hook in found:
            if attrs.dry_run and hook.side_effects not in DRY_RUN_SAFE:
                raise bad_request(f'admission webhook "{hook.name}" does not support dry run')
        return found

    async def admit(self, attrs: Attributes, user: UserInfo, revalidate: Revalidate
                    ) -> tuple[JsonObj | None, list[str]]:
        """The object after mutating webhooks (revalidated if changed) once every validating
        webhook allowed it, and the warnings webhooks returned. Raises the refusal."""
        if attrs.kind.group in EXEMPT_GROUPS:
            return attrs.obj, []
        warnings: list[str] = []
        mutating = await self._matching(attrs, mutating=True)
        if mutating:
            obj = await self._mutate(mutating, attrs, user, warnings)
            if obj is not attrs.obj and obj is not None:
                obj = revalidate(obj)
            attrs = replace(attrs, obj=obj)
        validating = await self._matching(attrs, mutating=False)
        if validating:
            await self._validate(validating, attrs, user, warnings)
        return attrs.obj, warnings

    async def _call(self, hook: Webhook, attrs: Attributes, user: UserInfo) -> Verdict | None:
        """One call; None when it failed and ``failurePolicy: Ignore`` lets the write on, or
        when its ``matchConditions`` skip it."""
        review = build_request(attrs, user)
        if hook.match_conditions and not self._conditions_hold(hook, attrs, review):
            return None
        try:
            body = await self.client.call(hook, review)
            return read_response(body, review["request"]["uid"], mutating=hook.mutating)
        except (CallError, ReviewError) as err:
            self._failed(hook, err)
            return None

    def _conditions_hold(self, hook: Webhook, attrs: Attributes, review: JsonObj) -> bool:
        """``matchConditions``: all true → call; any false → skip; an error → Ignore skips,
        Fail refuses the request (403, as upstream)."""
        request = {k: v for k, v in review["request"].items() if k not in ("object",
                                                                           "oldObject")}
        outcome = evaluate(hook.match_conditions, {"object": attrs.obj,
                                                   "oldObject": attrs.old, "request": request})
        if outcome.error is None:
            return outcome.call
        if hook.failure_policy == "Ignore":
            log.warning('webhook "%s" skipped (failurePolicy Ignore): %s', hook.name,
                        outcome.error)
            return False
        kind = attrs.kind
        resource = f"{kind.plural}.{kind.group}" if kind.group else kind.plural
        raise StatusError(403, "Forbidden", f'{resource} "{attrs.name}" is forbidden: '
                          f'webhook "{hook.name}": {outcome.error}',
                          details={"name": attrs.name, "group": kind.group,
                                   "kind": kind.plural})

    def _failed(self, hook: Webhook, err: Exception) -> None:
        """``failurePolicy``: Ignore logs and lets the write on, Fail refuses it (500)."""
        if hook.failure_policy != "Ignore":
            raise internal(f'failed calling webhook "{hook.name}": {err}')
        log.warning('failed calling webhook "%s" (failurePolicy Ignore): %s', hook.name, err)

    async def _mutate(self, hooks: list[Webhook], attrs: Attributes, user: UserInfo,
                      warnings: list[str]) -> JsonObj | None:
        obj = attrs.obj
        after: dict[tuple[str, str], Any] = {}
        for hook in hooks:
            obj = await self._mutate_one(hook, replace(attrs, obj=obj), user, warnings)
            after[hook.key] = obj
        for hook in hooks:  # reinvocation: once, for IfNeeded hooks a later hook overrode
            if hook.reinvocation == "IfNeeded" and after[hook.key] != obj:
                obj = await self._mutate_one(hook, replace(attrs, obj=obj), user, warnings)
        return obj

    async def _mutate_one(self, hook: Webhook, attrs: Attributes, user: UserInfo,
                          warnings: list[str]) -> JsonObj | None:
        verdict = await self._call(hook, attrs, user)
        if verdict is None:
            return attrs.obj
        warnings.extend(verdict.warnings)
        if not verdict.allowed:
            raise denial(hook.name, verdict.status)
        if verdict.patch is None or attrs.obj is None or attrs.operation == "CONNECT":
            return attrs.obj
        try:
            return _keep_server_fields(attrs.obj, apply_patch(attrs.obj, verdict.patch,
                                                              hook.name))
        except ReviewError as err:
            self._failed(hook, err)
            return attrs.obj

    async def _validate(self, hooks: list[Webhook], attrs: Attributes, user: UserInfo,
                        warnings: list[str]) -> None:
        results = await asyncio.gather(*(self._call(h, attrs, user) for h in hooks),
                                       return_exceptions=True)
        refusal: BaseException | None = None
        for hook, result in zip(hooks, results, strict=True):
            if isinstance(result, BaseException):
                refusal = refusal or result
                continue
            if result is None:
                continue
            warnings.extend(result.warnings)
            if not result.allowed and refusal is None:
                refusal = denial(hook.name, result.status)
        if refusal is not None:
            raise refusal


_SERVER_FIELDS = ("name", "namespace", "uid", "creationTimestamp", "resourceVersion",
                  "generation", "deletionTimestamp", "deletionGracePeriodSeconds")


def _keep_server_fields(before: JsonObj, after: JsonObj) -> JsonObj:
    """A mutating webhook may change the object, not its identity or what the server owns:
    those metadata fields keep their admitted values (upstream refuses identity changes in
    its later checks; kboot restores them here, before revalidation)."""
    old_meta, meta = before.get("metadata") or {}, after["metadata"]
    for field in _SERVER_FIELDS:
        if field in old_meta:
            meta[field] = old_meta[field]
        else:
            meta.pop(field, None)
    after["apiVersion"], after["kind"] = before.get("apiVersion"), before.get("kind")
    return after
