"""Stored-object migrations: how a kboot release rewrites objects that an older release stored
in a shape the new one no longer reads.

Objects are stored as JSON (``apiserver/storage.py``); when a release changes that shape (a
field renamed or moved, a default made explicit, an object split), it adds a
:class:`Migration` to :data:`MIGRATIONS`: the kind it applies to and a ``rewrite`` function
from a stored object to its new shape (``None`` when the object already has it). Every
apiserver applies the registry at start (:func:`apply_migrations`, before its watch caches
fill): during ``kboot up``'s rolling restart the first control plane on the new code migrates
the store, the others find the migration recorded and skip it.

The rules a migration keeps:

- **idempotent** (``rewrite`` of a migrated object returns ``None``): an apiserver may stop half
  way, two may run it at once;
- **readable by the previous release** where it can be: during the rolling restart old and new
  apiservers serve side by side; a change the old release cannot read needs two releases (first
  read both shapes, then write the new one);
- each object is rewritten with optimistic concurrency (the store's ``mod_revision``): a
  conflicting write by a client makes it re-read and rewrite again, so nothing is lost;
- once every object is rewritten the migration is recorded under
  ``/kboot/migrations/<name>`` (its release and object count) and never runs again; names are
  never reused.

Between 0.1.0 and 0.2.0 the stored shapes did not change: the registry is empty.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.apiserver.errors import JsonObj, StatusError
from kboot.controlplane.apiserver.storage import ObjectStorage
from kboot.controlplane.store.base import KeyExists, KeyValue

log = logging.getLogger(__name__)

MARKER_PREFIX = "/kboot/migrations/"
PAGE = 500


@dataclass(frozen=True)
class Migration:
    name: str  # unique and stable: the record of it having run is kept under this name
    group: str  # the kind's API group ("" = core) and plural
    plural: str
    release: str  # the kboot version that stores the new shape
    rewrite: Callable[[JsonObj], JsonObj | None]  # new shape, or None when already current
    description: str = ""


MIGRATIONS: tuple[Migration, ...] = ()


@dataclass(frozen=True)
class MigrationResult:
    name: str
    rewritten: int  # objects rewritten by this apiserver
    already_applied: bool  # recorded before: nothing was read


async def apply_migrations(storage: ObjectStorage,
                           migrations: Sequence[Migration] = MIGRATIONS
                           ) -> list[MigrationResult]:
    """Apply every migration not yet recorded in the store, in order; one result each."""
    names = [m.name for m in migrations]
    if len(set(names)) != len(names):
        raise ValueError(f"migration names must be unique: {names}")
    results = []
    for migration in migrations:
        marker = MARKER_PREFIX + migration.name
        if await storage.store.get(marker) is not None:
            results.append(MigrationResult(migration.name, 0, already_applied=True))
            continue
        kind = storage.kinds.lookup(migration.group, migration.plural)
        if kind is None:
            raise ValueError(f"migration {migration.name}: no kind "
                             f"{migration.plural}.{migration.group or 'core'} is served")
        rewritten = await _migrate_kind(storage, kind, migration)
        record = {"release": migration.release, "rewritten": rewritten,
                  "description": migration.description}
        with contextlib.suppress(KeyExists):  # another apiserver finished it at the same time
            await storage.store.create(marker, json.dumps(record).encode())
        log.info("stored-object migration %s (kboot %s): %d %s rewritten", migration.name,
                 migration.release, rewritten, migration.plural)
        results.append(MigrationResult(migration.name, rewritten, already_applied=False))
    return results


async def _migrate_kind(storage: ObjectStorage, kind: ResourceKind, migration: Migration
                        ) -> int:
    rewritten, start_after = 0, ""
    while True:
        page = await storage.store.list(kind.storage_prefix, limit=PAGE, start_after=start_after)
        for kv in page.items:
            rewritten += await _migrate_one(storage, kind, migration, kv)
        if not page.more or not page.items:
            return rewritten
        start_after = page.items[-1].key


async def _migrate_one(storage: ObjectStorage, kind: ResourceKind, migration: Migration,
                       kv: KeyValue) -> int:
    """1 when the object was rewritten; re-read and retried when a writer got there first."""
    current: KeyValue | None = kv
    while current is not None:
        obj = storage.decode_as(kind, current)
        new = migration.rewrite(copy.deepcopy(obj))
        if new is None:
            return 0
        try:
            await storage.update(kind, new, expected=current.mod_revision)
            return 1
        except StatusError as err:
            if err.code != 409:  # a conflict: someone wrote it meanwhile
                raise
        current = await storage.store.get(current.key)
    return 0  # deleted meanwhile
