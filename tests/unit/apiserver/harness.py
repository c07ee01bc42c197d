"""An in-process apiserver on the memory store for fast unit tests (plain HTTP test client,
admin by bearer token; ``as_user`` tokens map to other identities)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from kboot.controlplane.apiserver.app import build_app
from kboot.controlplane.apiserver.auth import Authenticator, UserInfo
from kboot.controlplane.apiserver.config import ServerConfig
from kboot.controlplane.apiserver.main import assemble, start_background, stop_background
from kboot.controlplane.apiserver.state import ServerState
from kboot.controlplane.apiserver.storage import ObjectStorage
from kboot.controlplane.apiserver.watchcache import WatchCaches
from kboot.controlplane.client.clock import Clock
from kboot.controlplane.store import open_store

ADMIN = "admin-token"
USERS = {
    ADMIN: UserInfo("admin", ("system:masters", "system:authenticated")),
    "node1": UserInfo("system:node:node1", ("system:nodes", "system:authenticated")),
    "nobody": UserInfo("nobody", ("system:authenticated",)),
}


@dataclass
class Harness:
    client: TestClient[Any, Any]
    state: ServerState

    async def request(self, method: str, path: str, body: Any = None, *, token: str = ADMIN,
                      content_type: str = "application/json",
                      headers: dict[str, str] | None = None) -> ClientResponse:
        hdrs = {"Authorization": f"Bearer {token}", **(headers or {})}
        kwargs: dict[str, Any] = {}
        if body is not None:
            hdrs["Content-Type"] = content_type
            kwargs["data"] = body if isinstance(body, (str, bytes)) else _dumps(body)
        return await self.client.request(method, path, headers=hdrs, **kwargs)

    async def json(self, method: str, path: str, body: Any = None, *, expect: int = 200,
                   **kw: Any) -> Any:
        resp = await self.request(method, path, body, **kw)
        data = await resp.json(content_type=None)
        assert resp.status == expect, (resp.status, data)
        return data


def _dumps(body: Any) -> str:
    import json
    return json.dumps(body)


@contextlib.asynccontextmanager
async def running(*, clock: Clock | None = None, **config: Any) -> AsyncIterator[Harness]:
    """The server; ``clock`` (e.g. a FakeClock) is the time it stamps objects with."""
    cfg = ServerConfig(tls_cert_file="-", tls_private_key_file="-", storage="memory://",
                       **config)
    storage = ObjectStorage(open_store("memory://"))
    caches = WatchCaches(storage)
    state = assemble(cfg, storage, caches, Authenticator(static_tokens=USERS, clock=clock),
                     clock=clock)
    await start_background(state)
    state.ready = True
    client: TestClient[Any, Any] = TestClient(TestServer(build_app(state)))
    await client.start_server()
    try:
        yield Harness(client, state)
    finally:
        await client.close()
        await stop_background(state)
        await storage.store.close()


def async_test(fn: Any) -> Any:
    """Run an ``async def test_…`` on a fresh event loop (no pytest-asyncio needed)."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))
    return wrapper
