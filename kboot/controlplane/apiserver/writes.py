"""The guarded read-modify-write every update, patch and subresource write goes through.

Upstream's ``GuaranteedUpdate``: read the object, compute the new one, CAS it on the read
``mod_revision``; on a storage conflict re-read and recompute (patches and server-side apply
retry; a PUT carrying a stale resourceVersion fails in ``compute`` with 409). A write that
changes nothing is skipped, and an object whose deletion is complete (deletionTimestamp set, no
finalizers left) is removed instead of rewritten.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.apiserver.admission import is_being_removed
from kboot.controlplane.apiserver.errors import JsonObj, StatusError
from kboot.controlplane.apiserver.storage import ObjectStorage, revision_of

MAX_ATTEMPTS = 8


def _comparable(obj: JsonObj) -> JsonObj:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items()
            if k not in ("managedFields", "resourceVersion")}
    return {**obj, "metadata": meta}


async def guarded_update(storage: ObjectStorage, kind: ResourceKind, namespace: str | None,
                         name: str, compute: Callable[[JsonObj], JsonObj], *,
                         dry_run: bool = False, suggestion: JsonObj | None = None,
                         review: Callable[[JsonObj, JsonObj], Awaitable[JsonObj]] | None = None
                         ) -> JsonObj:
    """Apply ``compute(current) -> new`` atomically; returns the stored (or would-be) object.

    ``suggestion`` (the watch cache's copy, like upstream's) saves the first read; a stale one
    costs a conflict and a real read. Only for writes whose ``compute`` never fails merely
    because its input is older than the store (e.g. bindings: "already assigned" and
    "being deleted" only ever become true). ``review(new, current) -> new`` is the
    asynchronous admission step after ``compute`` (webhooks), re-run with every attempt."""
    strategy = storage.kinds.strategy(kind)
    for attempt in range(MAX_ATTEMPTS):
        if attempt == 0 and suggestion is not None:
            current = suggestion
        else:
            current = await storage.get(kind, namespace, name)
        new = compute(current)
        if review is not None:
            new = await review(new, current)
        if _comparable(new) == _comparable(current):
            return current
        if dry_run:
            return new
        try:
            if is_being_removed(strategy, new):
                return await storage.delete(kind, new, expected=revision_of(current))
            return await storage.update(kind, new, expected=revision_of(current))
        except StatusError as err:
            if err.reason != "Conflict" or attempt == MAX_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
