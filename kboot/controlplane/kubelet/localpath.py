"""The local-path provisioner's node half: removing a deleted volume's directory.

The controller-manager deletes a Released local-path PV whose policy is ``Delete``; its
``kboot.io/local-path-data`` finalizer keeps the object until the one node its node affinity
names has removed the directory. This kubelet watches PVs (``system:node`` may read them),
and for each deleted one pinned to this node whose path is a provisioner directory directly
under ``--local-path-dir`` (never anything else, whatever the PV says) removes it and then the
finalizer — the only PV write the Node authorizer allows a node, and only on volumes pinned
to it. ``Retain`` volumes are never deleted, so their data stay.
"""

from __future__ import annotations

import asyncio
import logging
import shutil

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.api.storageclasses import DATA_FINALIZER, pinned_node, under_base
from kboot.controlplane.client import ApiClient, ApiError, Conflict, NotFound
from kboot.controlplane.client.informer import Handlers, Informer
from kboot.controlplane.kubelet.claims import pv_path

log = logging.getLogger(__name__)
_ATTEMPTS = 5


def to_clean(pv: Obj, *, node: str, base: str) -> str | None:
    """The directory to remove for ``pv`` on ``node``, or None when it is not this node's
    business (not deleted, not ours, another node, a path outside ``base``)."""
    meta = pv.get("metadata") or {}
    if not meta.get("deletionTimestamp") or DATA_FINALIZER not in (meta.get("finalizers") or []):
        return None
    if pinned_node(pv) != node:
        return None
    path = pv_path(pv)
    return path if path and under_base(path, base) else None


class LocalPathCleaner:
    """Watches PVs; removes this node's deleted local-path directories."""

    def __init__(self, client: ApiClient, volumes: Informer, *, node: str, base: str) -> None:
        self.client, self.node, self.base = client, node, base
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        volumes.add_handlers(Handlers(on_add=self._seen, on_update=lambda _o, v: self._seen(v)))

    def _seen(self, pv: Obj) -> None:
        name = str(pv["metadata"]["name"])
        if name in self._busy or self._owner_of(pv) is None:
            return
        self._busy.add(name)
        task = asyncio.create_task(self.clean(pv))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _t: self._busy.discard(name))

    async def settle(self) -> None:
        """Wait for the removals under way (tests; shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _owner_of(self, pv: Obj) -> str | None:
        return to_clean(pv, node=self.node, base=self.base)

    async def clean(self, pv: Obj) -> None:
        path = self._owner_of(pv)
        if path is None:
            return
        name = str(pv["metadata"]["name"])
        try:
            await asyncio.to_thread(shutil.rmtree, path, ignore_errors=True)
            for _ in range(_ATTEMPTS):  # other finalizers may go meanwhile: re-read, retry
                meta = pv["metadata"]
                left = [f for f in meta.get("finalizers") or [] if f != DATA_FINALIZER]
                try:
                    await self.client.patch("persistentvolumes", name, {"metadata": {
                        "finalizers": left, "resourceVersion": meta.get("resourceVersion")}})
                    break
                except Conflict:
                    pv = await self.client.get("persistentvolumes", name)
        except NotFound:
            return
        except (ApiError, OSError) as exc:
            log.warning("volume %s: removing %s: %s", name, path, exc)
            return
        log.info("volume %s: removed its data %s", name, path)
