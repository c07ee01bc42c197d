"""An in-memory apiserver behind the :class:`ApiClient` interface, for unit tests.

It keeps the semantics controllers depend on: resourceVersions from one counter, optimistic
concurrency on replace, generation bumps on spec changes, status subresources, finalizers and
deletionTimestamp (graceful deletion of bound pods), propagation finalizers, selectors,
pagination, watches that replay from a resourceVersion (``Expired`` after :meth:`compact`), the
``binding`` and ``eviction`` subresources (an Eviction's ``deleteOptions`` apply, as on the
apiserver, which models no disruption budgets either: tests that need a 429 subclass the fake).
Patches use the api package's rules (server-side apply is approximated as a merge).
``actions`` records every write for assertions.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from kboot.controlplane.api.field_errors import FORBIDDEN
from kboot.controlplane.api.patch import json_merge_patch, json_patch
from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.api.selectors import parse_field_selector, parse_label_selector
from kboot.controlplane.api.strategic import strategic_merge_patch
from kboot.controlplane.api.validation_pods import validate_pod
from kboot.controlplane.client import meta
from kboot.controlplane.client.api import (
    ApiClient,
    DeleteOptions,
    EventType,
    Obj,
    PatchType,
    Ref,
    WatchEvent,
    resolve,
)
from kboot.controlplane.client.clock import REAL_CLOCK, Clock
from kboot.controlplane.client.errors import status_error

Filter = Callable[[Obj], bool]


@dataclass
class _Watcher:
    kind: ResourceKind
    matches: Filter
    queue: asyncio.Queue[WatchEvent | None]


class FakeClient(ApiClient):
    """Everything lives in ``objects[(plural, key)]``; safe within one event loop."""

    def __init__(self, *, graceful_pod_deletion: bool = True, clock: Clock = REAL_CLOCK) -> None:
        self.clock = clock  # timestamps (creation, deletion) are this clock's wall time
        self.objects: dict[tuple[str, str], Obj] = {}
        self.history: list[tuple[int, str, EventType, Obj, Obj | None]] = []
        self.actions: list[tuple[str, str, str]] = []
        self.graceful_pod_deletion = graceful_pod_deletion
        # as on a real server, even an empty store has a version: a list's resourceVersion
        # is never "0", which a watch would read as "any version, start with a full replay"
        self._rv = itertools.count(2)
        self.revision = 1
        self.compacted = 0
        self._watchers: list[_Watcher] = []

    # -- seeding and inspection -------------------------------------------------------------

    def seed(self, ref: Ref, body: Obj) -> Obj:
        """Store an object synchronously (defaults filled) without recording an action."""
        return self._store_new(resolve(ref), copy.deepcopy(body), None)

    def all(self, ref: Ref, namespace: str | None = None) -> list[Obj]:
        plural = resolve(ref).plural
        return [copy.deepcopy(o) for (p, _), o in sorted(self.objects.items())
                if p == plural and (namespace is None or
                                    o["metadata"].get("namespace") == namespace)]

    def compact(self) -> None:
        self.compacted = self.revision
        self.history.clear()

    # -- internals --------------------------------------------------------------------------

    def _key(self, kind: ResourceKind, namespace: str | None, name: str) -> tuple[str, str]:
        return (kind.plural, f"{namespace}/{name}" if kind.namespaced else name)

    def _lookup(self, kind: ResourceKind, namespace: str | None, name: str) -> Obj:
        obj = self.objects.get(self._key(kind, namespace, name))
        if obj is None:
            raise status_error(404, "NotFound", f'{kind.plural} "{name}" not found',
                               name=name, kind=kind.plural)
        return obj

    def _emit(self, kind: ResourceKind, etype: EventType, obj: Obj, prev: Obj | None) -> None:
        self.history.append((self.revision, kind.plural, etype, copy.deepcopy(obj), prev))
        for w in self._watchers:
            if w.kind.plural != kind.plural:
                continue
            ev = _transition(w.matches, etype, obj, prev)
            if ev is not None:
                w.queue.put_nowait(WatchEvent(ev, copy.deepcopy(obj)))

    def _bump(self, obj: Obj) -> None:
        self.revision = next(self._rv)
        obj["metadata"]["resourceVersion"] = str(self.revision)

    def _store_new(self, kind: ResourceKind, body: Obj, namespace: str | None) -> Obj:
        md = body.setdefault("metadata", {})
        if kind.namespaced:
            md["namespace"] = namespace or md.get("namespace") or "default"
        else:
            md.pop("namespace", None)
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + uuid.uuid4().hex[:5]
        key = self._key(kind, md.get("namespace"), md["name"])
        if key in self.objects:
            raise status_error(409, "AlreadyExists",
                               f'{kind.plural} "{md["name"]}" already exists', name=md["name"])
        body.setdefault("apiVersion", kind.api_version)
        body.setdefault("kind", kind.kind)
        md.update(uid=str(uuid.uuid4()), creationTimestamp=meta.now(self.clock), generation=1)
        md.pop("deletionTimestamp", None)
        self._bump(body)
        self.objects[key] = body
        self._emit(kind, "ADDED", body, None)
        return body

    def _store_update(self, kind: ResourceKind, new: Obj, old: Obj) -> Obj:
        key = self._key(kind, old["metadata"].get("namespace"), old["metadata"]["name"])
        for field in ("uid", "creationTimestamp", "deletionTimestamp", "namespace", "name"):
            if field in old["metadata"]:
                new["metadata"][field] = old["metadata"][field]
        gen = old["metadata"].get("generation", 1)
        new["metadata"]["generation"] = gen + (new.get("spec") != old.get("spec"))
        if new == old:
            return copy.deepcopy(old)
        if meta.is_deleting(new) and not _blocked(kind, new):
            return self._remove(kind, key, new)
        self._bump(new)
        self.objects[key] = new
        self._emit(kind, "MODIFIED", new, copy.deepcopy(old))
        return copy.deepcopy(new)

    def _remove(self, kind: ResourceKind, key: tuple[str, str], obj: Obj) -> Obj:
        prev = self.objects.pop(key)
        self._bump(obj)
        self._emit(kind, "DELETED", obj, prev)
        return copy.deepcopy(obj)

    def _write(self, kind: ResourceKind, body: Obj, old: Obj, subresource: str | None) -> Obj:
        new = copy.deepcopy(body)
        new.setdefault("metadata", {})
        if subresource == "status":
            merged = copy.deepcopy(old)
            merged["status"] = new.get("status")
            new = merged
        elif subresource == "finalize":
            merged = copy.deepcopy(old)
            merged.setdefault("spec", {})["finalizers"] = (new.get("spec") or {}).get(
                "finalizers") or []
            new = merged
        elif "status" in kind.subresources and subresource is None:
            new["status"] = copy.deepcopy(old.get("status"))
            if new["status"] is None:
                new.pop("status")
        if kind.kind == "Pod" and subresource is None:
            _check_pod_update(new, old)
        return self._store_update(kind, new, old)

    # -- verbs ------------------------------------------------------------------------------

    async def get(self, ref: Ref, name: str, *, namespace: str | None = None) -> Obj:
        return copy.deepcopy(self._lookup(resolve(ref), namespace, name))

    async def list(self, ref: Ref, *, namespace: str | None = None,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None) -> Obj:
        kind = resolve(ref)
        matches = _filter(kind, namespace, label_selector, field_selector)
        items = [o for (p, _), o in sorted(self.objects.items())
                 if p == kind.plural and matches(o)]
        start = int(continue_ or 0)
        page = items[start:start + limit] if limit else items[start:]
        more = limit is not None and start + limit < len(items)
        md: Obj = {"resourceVersion": str(self.revision)}
        if more:
            md["continue"] = str(start + (limit or 0))
        return {"kind": f"{kind.kind}List", "apiVersion": kind.api_version, "metadata": md,
                "items": copy.deepcopy(page)}

    async def create(self, ref: Ref, body: Obj, *, namespace: str | None = None,
                     field_manager: str | None = None) -> Obj:
        kind = resolve(ref)
        obj = self._store_new(kind, copy.deepcopy(body), namespace)
        self.actions.append(("create", kind.plural, meta.key_of(obj)))
        return copy.deepcopy(obj)

    async def replace(self, ref: Ref, body: Obj, *, subresource: str | None = None) -> Obj:
        kind = resolve(ref)
        md = body.get("metadata") or {}
        old = self._lookup(kind, md.get("namespace"), md["name"])
        rv = md.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise status_error(409, "Conflict", "the object has been modified; please apply "
                               "your changes to the latest version and try again")
        self.actions.append(("replace" + (f"/{subresource}" if subresource else ""),
                             kind.plural, meta.key_of(old)))
        return self._write(kind, body, old, subresource)

    async def patch(self, ref: Ref, name: str, patch: Any, *, namespace: str | None = None,
                    patch_type: PatchType = "merge", field_manager: str | None = None,
                    force: bool = False, subresource: str | None = None) -> Obj:
        kind = resolve(ref)
        try:
            old = self._lookup(kind, namespace, name)
        except Exception:
            if patch_type != "apply":
                raise
            return await self.create(kind, patch, namespace=namespace)
        new = _patched(kind, old, patch, patch_type)
        self.actions.append(("patch" + (f"/{subresource}" if subresource else ""),
                             kind.plural, meta.key_of(old)))
        return self._write(kind, new, old, subresource)

    async def delete(self, ref: Ref, name: str, *, namespace: str | None = None,
                     options: DeleteOptions | None = None) -> Obj:
        kind = resolve(ref)
        old = self._lookup(kind, namespace, name)
        opts = options or DeleteOptions()
        pre = opts.preconditions or {}
        if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
            raise status_error(409, "Conflict", "Precondition failed: UID in precondition")
        self.actions.append(("delete", kind.plural, meta.key_of(old)))
        new = copy.deepcopy(old)
        fins = list(new["metadata"].get("finalizers") or [])
        policy_fin = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(
            opts.propagation_policy or "")
        if policy_fin and policy_fin not in fins and kind.kind not in ("Pod", "Event"):
            fins.append(policy_fin)
        if self._graceful(kind, old, opts):
            new["metadata"]["deletionGracePeriodSeconds"] = _grace(old, opts)
        else:
            new["metadata"].pop("deletionGracePeriodSeconds", None)
        if self._graceful(kind, old, opts):
            pass
        elif not fins and not _blocked(kind, new):
            return self._remove(kind, self._key(kind, namespace, name), new)
        if meta.is_deleting(old) and new["metadata"].get("finalizers") == fins:
            return copy.deepcopy(old)
        new["metadata"]["finalizers"] = fins
        new["metadata"]["deletionTimestamp"] = meta.now(self.clock)
        # compared with the stored object as it was, so watchers see the deletion mark
        return self._store_update(kind, new, {**old, "metadata": {**old["metadata"]}})

    def _graceful(self, kind: ResourceKind, obj: Obj, opts: DeleteOptions) -> bool:
        return (self.graceful_pod_deletion and kind.plural == "pods"
                and bool((obj.get("spec") or {}).get("nodeName")) and _grace(obj, opts) > 0
                and (obj.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))

    async def create_subresource(self, ref: Ref, name: str, subresource: str, body: Obj, *,
                                 namespace: str | None = None) -> Obj:
        kind = resolve(ref)
        obj = self._lookup(kind, namespace, name)
        self.actions.append((f"create/{subresource}", kind.plural, meta.key_of(obj)))
        if subresource == "binding":
            if (obj.get("spec") or {}).get("nodeName"):
                raise status_error(409, "Conflict", f"pod {name} is already assigned")
            new = copy.deepcopy(obj)
            new["spec"]["nodeName"] = body["target"]["name"]
            self._store_update(kind, new, obj)
            return {"kind": "Status", "status": "Success"}
        if subresource == "eviction":
            return await self._evict(kind, name, namespace, body)
        raise status_error(404, "NotFound", f"no subresource {subresource}")

    async def _evict(self, kind: ResourceKind, name: str, namespace: str | None,
                     body: Obj) -> Obj:
        """As the apiserver's ``pods/eviction``: the Eviction names the pod, its
        ``deleteOptions`` (grace period, preconditions) apply to the delete."""
        if (body.get("metadata") or {}).get("name") not in (None, name):
            raise status_error(400, "BadRequest",
                               "name in URL does not match name in Eviction object")
        raw = body.get("deleteOptions") or {}
        await self.delete(kind, name, namespace=namespace, options=DeleteOptions(
            propagation_policy=raw.get("propagationPolicy"),
            grace_period_seconds=raw.get("gracePeriodSeconds"),
            preconditions=raw.get("preconditions")))
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "code": 201}

    async def watch(self, ref: Ref, *, namespace: str | None = None,
                    label_selector: str | None = None, field_selector: str | None = None,
                    resource_version: str | None = None, allow_bookmarks: bool = True,
                    timeout_seconds: int | None = None) -> AsyncIterator[WatchEvent]:
        kind = resolve(ref)
        matches = _filter(kind, namespace, label_selector, field_selector)
        w = _Watcher(kind, matches, asyncio.Queue())
        for backlog_event in self._backlog(w, resource_version):
            w.queue.put_nowait(backlog_event)
        self._watchers.append(w)
        try:
            while True:
                try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
                    async with asyncio.timeout(timeout_seconds):
                        ev = await w.queue.get()
                except TimeoutError:
                    return
                if ev is None:
                    return
                yield ev
        finally:
            if w in self._watchers:
                self._watchers.remove(w)

    def _backlog(self, w: _Watcher, rv: str | None) -> builtins.list[WatchEvent]:
        if not rv or rv == "0":
            return [WatchEvent("ADDED", copy.deepcopy(o)) for (p, _), o in
                    sorted(self.objects.items()) if p == w.kind.plural and w.matches(o)]
        if int(rv) < self.compacted:
            raise status_error(410, "Expired",
                               f"too old resource version: {rv} ({self.compacted})")
        out: builtins.list[WatchEvent] = []
        for rev, plural, etype, obj, prev in self.history:
            if rev > int(rv) and plural == w.kind.plural:
                ev = _transition(w.matches, etype, obj, prev)
                if ev is not None:
                    out.append(WatchEvent(ev, copy.deepcopy(obj)))
        return out

    def end_watches(self) -> None:
        """End every open watch stream (as a server timeout would)."""
        for w in self._watchers:
            w.queue.put_nowait(None)

    async def close(self) -> None:
        self.end_watches()


def _patched(kind: ResourceKind, old: Obj, patch: Any, patch_type: PatchType) -> Obj:
    if patch_type == "json":
        new: Obj = json_patch(old, patch)
    elif patch_type == "strategic":
        new = strategic_merge_patch(kind, old, patch)
    else:
        new = json_merge_patch(old, patch)
    return new


def _check_pod_update(new: Obj, old: Obj) -> None:
    """As the apiserver: a pod's spec is immutable but for images, tolerations added, the
    active deadline and the grace period (the fake skips the rest of validation, so unit tests
    may keep their pods minimal)."""
    errors = [e for e in validate_pod({"spec": new.get("spec") or {}},
                                      {"spec": old.get("spec") or {}})
              if e.type == FORBIDDEN and e.field == "spec"]
    if errors:
        name = old["metadata"]["name"]
        raise status_error(422, "Invalid", f'Pod "{name}" is invalid: spec: {errors[0].message}',
                           name=name, kind="pods")


def _blocked(kind: ResourceKind, obj: Obj) -> bool:
    """Whether a deleting object must stay: finalizers, a namespace's spec.finalizers, or a
    bound pod still in its grace period."""
    md = obj["metadata"]
    if md.get("finalizers") or md.get("deletionGracePeriodSeconds"):
        return True
    return kind.kind == "Namespace" and bool((obj.get("spec") or {}).get("finalizers"))


def _grace(obj: Obj, opts: DeleteOptions) -> int:
    if opts.grace_period_seconds is not None:
        return opts.grace_period_seconds
    return int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30))


def _filter(kind: ResourceKind, namespace: str | None, label_selector: str | None,
            field_selector: str | None) -> Filter:
    by_labels = parse_label_selector(label_selector)
    by_fields = parse_field_selector(kind, field_selector)
    return lambda o: ((namespace is None or o["metadata"].get("namespace") == namespace)
                      and by_labels.matches(meta.labels(o)) and by_fields.matches(o))


def _transition(matches: Filter, etype: EventType, obj: Obj,
                prev: Obj | None) -> EventType | None:
    now, before = matches(obj), prev is not None and matches(prev)
    if etype == "MODIFIED":
        if now and before:
            return "MODIFIED"
        return "ADDED" if now else ("DELETED" if before else None)
    if etype == "DELETED":
        return "DELETED" if (now or before) else None
    return etype if now else None
