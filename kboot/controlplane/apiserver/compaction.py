"""Periodic store compaction, coordinated among apiservers (reference §14).

Every interval each apiserver reads ``/registry/compact_rev_key``. If the key has not moved since
its previous look, nobody else compacted meanwhile: it CAS-updates the key to the current
revision and compacts to the revision the key held (recorded one interval earlier), so history
of about one interval is always kept. If the CAS fails or the key moved, a peer did the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kboot.controlplane.store.base import KeyExists, RevisionConflict, Store, StoreError

log = logging.getLogger(__name__)
COMPACT_KEY = "/registry/compact_rev_key"


class Compactor:
    def __init__(self, store: Store, interval: float) -> None:
        self.store = store
        self.interval = interval
        self.seen_mod_revision = -1

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.compact_once()
            except StoreError as err:
                log.warning("compaction skipped: %s", err)

    async def compact_once(self) -> int | None:
        """One round; returns the revision compacted to, if this server compacted."""
        current = await self.store.current_revision()
        kv = await self.store.get(COMPACT_KEY)
        if kv is None:
            with contextlib.suppress(KeyExists):
                self.seen_mod_revision = await self.store.create(COMPACT_KEY,
                                                                 str(current).encode())
            return None
        if kv.mod_revision != self.seen_mod_revision:
            self.seen_mod_revision = kv.mod_revision  # a peer moved it; wait one interval
            return None
        try:
            self.seen_mod_revision = await self.store.update(
                COMPACT_KEY, str(current).encode(), expected_revision=kv.mod_revision)
        except RevisionConflict:
            return None
        target = int(kv.value or b"0")
        if target > 0:
            await self.store.compact(target)
            log.info("compacted store to revision %d", target)
            return target
        return None
