"""Stored-object migrations (``kboot.controlplane.apiserver.migrations``) on the memory and the
SQLite store: objects an older release stored in an old shape are rewritten once, through the
encryption at rest, page by page, without losing a client's concurrent write; the record makes a
second apiserver (or a restart) skip it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kboot.controlplane.api.registry import lookup
from kboot.controlplane.apiserver import migrations
from kboot.controlplane.apiserver.encryption import EncryptionKey, Encryptor
from kboot.controlplane.apiserver.errors import JsonObj
from kboot.controlplane.apiserver.kinds import KindRegistry
from kboot.controlplane.apiserver.migrations import (
    MIGRATIONS,
    Migration,
    MigrationResult,
    apply_migrations,
)
from kboot.controlplane.apiserver.storage import ObjectStorage
from kboot.controlplane.store import open_store

CONFIGMAPS = lookup("", "configmaps")
SECRETS = lookup("", "secrets")
OLD, NEW = "example.com/tier", "tier.kboot.io/name"  # the label a release renamed


def _rename_label(obj: JsonObj) -> JsonObj | None:
    labels = obj["metadata"].get("labels") or {}
    if OLD not in labels:
        return None
    labels[NEW] = labels.pop(OLD)
    return obj


RENAME = Migration("rename-tier-label-configmaps", "", "configmaps", "9.9.0", _rename_label,
                   "example.com/tier became tier.kboot.io/name")
RENAME_SECRETS = Migration("rename-tier-label-secrets", "", "secrets", "9.9.0", _rename_label)


def _obj(kind: str, name: str, labels: dict[str, str], **body: Any) -> JsonObj:
    return {"apiVersion": "v1", "kind": kind, **body,
            "metadata": {"name": name, "namespace": "default", "labels": labels}}


def _run(url: str, test: Callable[[ObjectStorage], Awaitable[None]]) -> None:
    async def main() -> None:
        storage = ObjectStorage(open_store(url), kinds=KindRegistry.builtin(),
                                encryptor=Encryptor([EncryptionKey("k1", os.urandom(32))]))
        try:
            await test(storage)
        finally:
            await storage.store.close()
    asyncio.run(main())


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite://{tmp_path}/kboot.db"


def test_old_objects_rewritten_once_and_recorded(url: str) -> None:
    assert CONFIGMAPS is not None and SECRETS is not None

    async def test(storage: ObjectStorage) -> None:
        for i in range(5):  # more than one page below
            await storage.create(CONFIGMAPS, _obj("ConfigMap", f"old-{i}", {OLD: "web"},
                                                  data={"i": str(i)}))
        current = await storage.create(CONFIGMAPS, _obj("ConfigMap", "new", {NEW: "db"}))
        await storage.create(SECRETS, _obj("Secret", "s", {OLD: "web"}, data={"k": "c2VjcmV0"}))

        results = await apply_migrations(storage, [RENAME, RENAME_SECRETS])
        assert results == [MigrationResult(RENAME.name, 5, already_applied=False),
                           MigrationResult(RENAME_SECRETS.name, 1, already_applied=False)]
        for i in range(5):
            obj = await storage.get(CONFIGMAPS, "default", f"old-{i}")
            assert obj["metadata"]["labels"] == {NEW: "web"} and obj["data"] == {"i": str(i)}
        untouched = await storage.get(CONFIGMAPS, "default", "new")
        assert untouched["metadata"]["resourceVersion"] == \
            current["metadata"]["resourceVersion"]
        secret = await storage.get(SECRETS, "default", "s")
        assert secret["metadata"]["labels"] == {NEW: "web"}
        raw = await storage.store.get(SECRETS.key("default", "s"))
        assert raw is not None and b"c2VjcmV0" not in raw.value  # still sealed at rest
        record = await storage.store.get(migrations.MARKER_PREFIX + RENAME.name)
        assert record is not None and b'"rewritten": 5' in record.value

        revision = await storage.store.current_revision()
        again = await apply_migrations(storage, [RENAME, RENAME_SECRETS])
        assert [r.already_applied for r in again] == [True, True]
        assert await storage.store.current_revision() == revision  # nothing written

    _run(url, test)


def test_paged_over_the_kind(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrations, "PAGE", 2)
    assert CONFIGMAPS is not None

    async def test(storage: ObjectStorage) -> None:
        for i in range(5):
            await storage.create(CONFIGMAPS, _obj("ConfigMap", f"cm-{i}", {OLD: str(i)}))
        [result] = await apply_migrations(storage, [RENAME])
        assert result.rewritten == 5

    _run(url, test)


def test_a_concurrent_client_write_is_kept_and_migrated(url: str) -> None:
    """A client updates the object between the migration's read and its write: the rewrite
    conflicts, re-reads and migrates the client's version (its data survives)."""
    assert CONFIGMAPS is not None
    seen: list[str] = []

    def rewrite(obj: JsonObj) -> JsonObj | None:
        seen.append(obj["data"]["v"])
        return _rename_label(obj)

    async def test(storage: ObjectStorage) -> None:
        created = await storage.create(CONFIGMAPS, _obj("ConfigMap", "busy", {OLD: "web"},
                                                        data={"v": "1"}))
        original = storage.update

        async def update(kind: Any, obj: JsonObj, *, expected: int) -> JsonObj:
            if len(seen) == 1:  # the client's write lands first
                await original(kind, {**created, "data": {"v": "2"}}, expected=expected)
            return await original(kind, obj, expected=expected)

        storage.update = update  # type: ignore[method-assign]
        [result] = await apply_migrations(storage, [Migration("race", "", "configmaps",
                                                              "9.9.0", rewrite)])
        assert result.rewritten == 1
        obj = await storage.get(CONFIGMAPS, "default", "busy")
        assert obj["data"] == {"v": "2"} and obj["metadata"]["labels"] == {NEW: "web"}
        assert seen == ["1", "2"]  # migrated again after re-reading the client's version

    _run(url, test)


def test_bad_registries_are_refused(url: str) -> None:
    async def test(storage: ObjectStorage) -> None:
        with pytest.raises(ValueError, match="unique"):
            await apply_migrations(storage, [RENAME, RENAME])
        with pytest.raises(ValueError, match=r"no kind widgets\.core"):
            await apply_migrations(storage, [Migration("w", "", "widgets", "9.9.0",
                                                       _rename_label)])

    _run(url, test)


def test_the_shipped_registry_names_served_kinds_once() -> None:
    names = [m.name for m in MIGRATIONS]
    assert len(set(names)) == len(names)
    kinds = KindRegistry.builtin()
    assert all(kinds.lookup(m.group, m.plural) is not None for m in MIGRATIONS)
