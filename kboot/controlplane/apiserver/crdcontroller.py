"""The CRD controller: runs inside every apiserver and serves what the stored CRDs define.

Fed by the watch cache of ``customresourcedefinitions`` (itself fed by the store's watch), so
every apiserver of an HA cluster learns a CRD as soon as its cache applies the event — no
apiserver-to-apiserver traffic. For each CRD, in creation order (the older CRD keeps a
contested name, as upstream's naming controller decides):

- names: :func:`kboot.controlplane.api.crd.naming.calculate_names` against the built-in kinds
  and the other CRDs → ``status.acceptedNames`` and the ``NamesAccepted`` condition;
- serving: with its names accepted, the CRD's storage version is registered in the server's
  :class:`~.kinds.KindRegistry` (re-registered when its spec changes) and ``Established``
  turns True; a conflicting CRD is not served;
- deletion: a CRD being deleted (``customresourcecleanup`` finalizer, set by
  :class:`~.crds.CRDStrategy`) has its custom resources deleted (those with finalizers get a
  ``deletionTimestamp`` and are waited for), then the finalizer is removed; a CRD gone from
  the store stops being served.

Every apiserver computes the same status, so the status writes of several servers agree
(:func:`~.writes.guarded_update` skips a write that changes nothing).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from kboot.controlplane.api.crd.naming import calculate_names
from kboot.controlplane.api.crd.paths import field_of
from kboot.controlplane.api.crd.resource import SchemaCompileError
from kboot.controlplane.apiserver.crds import (
    CLEANUP_FINALIZER,
    CRD_KIND,
    crd_strategy,
    set_condition,
)
from kboot.controlplane.apiserver.customresources import (
    CustomResourceStrategy,
    is_custom,
    storage_kind,
    strategy_for,
)
from kboot.controlplane.apiserver.errors import JsonObj, StatusError
from kboot.controlplane.apiserver.kinds import KindConflict
from kboot.controlplane.apiserver.storage import revision_of
from kboot.controlplane.apiserver.watchcache import CacheEvent
from kboot.controlplane.apiserver.writes import guarded_update

if TYPE_CHECKING:
    from kboot.controlplane.apiserver.state import ServerState

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0  # a deletion waiting for finalizers, or a failed round, looks again


def install(state: ServerState) -> None:
    """Serve the CustomResourceDefinition kind (before the watch caches start)."""
    if state.kinds.lookup(CRD_KIND.group, CRD_KIND.plural) is None:
        state.kinds.register(crd_strategy())


class CRDController:
    """Keeps one server's served custom resource kinds equal to the stored CRDs."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.served: dict[str, CustomResourceStrategy] = {}  # by CRD name
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        cache = self.state.caches.peek(CRD_KIND)
        cache.listeners.append(self._on_event)
        self._task = asyncio.create_task(self._run(), name="crd-controller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _on_event(self, event: CacheEvent) -> None:
        self._wake.set()

    async def _run(self) -> None:
        cache = await self.state.caches.get(CRD_KIND)
        self._wake.set()
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                again = await self.reconcile(list(cache.objects.values()))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("CRD controller round failed; retrying")
                again = True
            if again:
                asyncio.get_running_loop().call_later(RETRY_SECONDS, self._wake.set)

    # ------------------------------------------------------------------------------ one round

    async def reconcile(self, crds: list[JsonObj]) -> bool:
        """Bring serving and statuses in line with ``crds``; True when a later round is
        needed (custom resources still finalizing)."""
        again = False
        ordered = sorted(crds, key=lambda c: (field_of(c, "metadata").get(
            "creationTimestamp", ""), field_of(c, "metadata").get("name", "")))
        for crd in ordered:
            if field_of(crd, "metadata").get("deletionTimestamp"):
                again = await self._clean_up(crd) or again
            else:
                await self._serve(crd, ordered)
        names = {field_of(c, "metadata").get("name") for c in crds}
        for name in [n for n in self.served if n not in names]:
            self._unserve(name)
        return again

    def _builtin_kinds(self) -> list[Any]:
        return [s.kind for s in self.state.kinds.strategies() if not is_custom(s)]

    async def _serve(self, crd: JsonObj, all_crds: list[JsonObj]) -> None:
        name = str(field_of(crd, "metadata").get("name"))
        naming = calculate_names(crd, all_crds, self._builtin_kinds())
        with_names = {**crd, "status": {**field_of(crd, "status"),
                                        "acceptedNames": naming.accepted}}
        established = naming.established
        if naming.names_accepted["status"] == "True" and self._register(name, with_names):
            established = {"type": "Established", "status": "True",
                           "reason": "InitialNamesAccepted",
                           "message": "the initial names have been accepted"}
        elif name in self.served:
            self._unserve(name)
        await self._write_status(name, naming.accepted, [naming.names_accepted, established])

    def _register(self, name: str, crd: JsonObj) -> bool:
        """Serve ``crd`` (or keep serving it); False when it cannot be served."""
        try:
            strategy = strategy_for(crd)
        except SchemaCompileError as err:
            log.warning("CRD %s not served: %s", name, err)
            strategy = None
        current = self.served.get(name)
        if strategy is not None and current is not None and \
                current.fingerprint == strategy.fingerprint:
            return True
        if current is not None:
            self._unserve(name)
        if strategy is None:
            return False
        try:
            self.state.kinds.register(strategy)
        except KindConflict as err:
            log.warning("CRD %s not served: %s", name, err)
            return False
        self.served[name] = strategy
        return True

    def _unserve(self, name: str) -> None:
        strategy = self.served.pop(name)
        kind = strategy.kind
        if self.state.kinds.lookup(kind.group, kind.plural) is not None:
            self.state.kinds.unregister(kind.group, kind.plural)

    async def _write_status(self, name: str, accepted: JsonObj, conditions: list[JsonObj]
                            ) -> None:
        now = self.state.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")

        def compute(current: JsonObj) -> JsonObj:
            new = {**current, "metadata": dict(current["metadata"]),
                   "status": dict(field_of(current, "status"))}
            new["status"]["acceptedNames"] = accepted
            new["status"]["conditions"] = [dict(c) for c in field_of(
                current, "status").get("conditions") or []]
            for cond in conditions:
                set_condition(new, {k: v for k, v in cond.items()
                                    if k != "lastTransitionTime"}, now)
            return new

        try:
            await guarded_update(self.state.storage, CRD_KIND, None, name, compute)
        except StatusError as err:
            if err.code != 404:
                raise

    # ------------------------------------------------------------------------------ deletion

    async def _clean_up(self, crd: JsonObj) -> bool:
        """Delete the CRD's custom resources; drop the finalizer once none is left. True
        while some remain (held by their finalizers)."""
        name = str(field_of(crd, "metadata").get("name"))
        if CLEANUP_FINALIZER not in (field_of(crd, "metadata").get("finalizers") or []):
            return False
        kind = storage_kind(crd)
        remaining = 0
        if kind is not None and kind.plural:
            page = await self.state.storage.list(kind, None)
            for obj in page.items:
                remaining += await self._delete_instance(kind, obj)
        if remaining:
            return True
        if name in self.served:
            self._unserve(name)

        def release(current: JsonObj) -> JsonObj:
            meta = dict(current["metadata"])
            meta["finalizers"] = [f for f in meta.get("finalizers") or []
                                  if f != CLEANUP_FINALIZER]
            return {**current, "metadata": meta}

        try:
            await guarded_update(self.state.storage, CRD_KIND, None, name, release)
        except StatusError as err:
            if err.code != 404:
                raise
        return False

    async def _delete_instance(self, kind: Any, obj: JsonObj) -> int:
        """Delete one custom resource (1: it is still there, waiting for its finalizers)."""
        meta = obj["metadata"]
        try:
            if not meta.get("finalizers"):
                await self.state.storage.delete(kind, obj, expected=revision_of(obj))
                return 0
            if not meta.get("deletionTimestamp"):
                stamp = self.state.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
                await self.state.storage.update(kind, {**obj, "metadata": {
                    **meta, "deletionTimestamp": stamp, "deletionGracePeriodSeconds": 0}},
                    expected=revision_of(obj))
        except StatusError as err:
            if err.code not in (404, 409):
                raise
        return 1

