"""The shared ``etcd_server`` fixture, cross-checked with etcdctl (a client that is not ours)."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import pytest

from kboot.controlplane.apiserver.encryption import EncryptionKey, Encryptor
from kboot.controlplane.store import open_store
from tests.fixtures.etcd import EtcdCluster
from tests.unit.store.contract import unique_prefix

pytestmark = pytest.mark.integration


def raw_kv(cluster: EtcdCluster, key: str) -> tuple[bytes, int]:
    """The value and mod_revision etcdctl sees (JSON output: base64 values)."""
    result = cluster.etcdctl("get", key, "-w", "json")
    assert result.returncode == 0, result.stderr
    [kv] = json.loads(result.stdout)["kvs"]
    return base64.b64decode(kv["value"]), int(kv["mod_revision"])


def test_values_are_stored_verbatim_and_secrets_sealed(etcd_server: EtcdCluster) -> None:
    prefix = unique_prefix()
    enc = Encryptor([EncryptionKey("k1", os.urandom(32))])
    secret = b'{"data":{"token":"dG9wLXNlY3JldC10b2tlbg=="}}'

    async def main() -> int:
        store = open_store(etcd_server.url)
        try:
            await store.create(prefix + "configmap", b'{"data":{"a":"b"}}')
            return await store.create(prefix + "secret", enc.encrypt(secret))
        finally:
            await store.close()

    rev = asyncio.run(main())
    assert raw_kv(etcd_server, prefix + "configmap")[0] == b'{"data":{"a":"b"}}'
    sealed, mod_revision = raw_kv(etcd_server, prefix + "secret")
    assert mod_revision == rev
    assert sealed.startswith(b"k8s:enc:aesgcm:v1:k1:") and b"dG9wLXNlY3JldC10b2tlbg" not in sealed
    assert enc.decrypt(sealed) == secret


def test_store_outlives_an_event_loop(etcd_server: EtcdCluster) -> None:
    store = open_store(etcd_server.url)
    key = unique_prefix() + "k"
    rev = asyncio.run(store.create(key, b"v"))
    kv = asyncio.run(store.get(key))
    assert kv is not None and kv.mod_revision == rev
    asyncio.run(store.close())
