"""A blocking facade over the async client, for the bootstrapper (which is threaded, not async).

:class:`SyncClient` runs its own event loop in a daemon thread and forwards each call to it, so
it can be used from any thread. Use it as a context manager, or call ``close()``.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from kboot.controlplane.client.api import ApiClient, DeleteOptions, Obj, PatchType, Ref
from kboot.controlplane.client.errors import NotFound

T = TypeVar("T")


def node_ready(node: Obj) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


class SyncClient:
    def __init__(self, factory: Callable[[], ApiClient]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="kboot-client")
        self._thread.start()
        self._client: ApiClient = self._call(self._make(factory))

    @staticmethod
    async def _make(factory: Callable[[], ApiClient]) -> ApiClient:
        return factory()

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str]) -> SyncClient:
        from kboot.controlplane.client.rest import Client

        return cls(lambda: Client.from_kubeconfig(path))

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def run(self, fn: Callable[[ApiClient], Awaitable[T]]) -> T:
        """Run any async function of the client and return its result."""
        async def go() -> T:
            return await fn(self._client)
        return self._call(go())

    def get(self, ref: Ref, name: str, *, namespace: str | None = None) -> Obj:
        return self._call(self._client.get(ref, name, namespace=namespace))

    def get_or_none(self, ref: Ref, name: str, *, namespace: str | None = None) -> Obj | None:
        try:
            return self.get(ref, name, namespace=namespace)
        except NotFound:
            return None

    def list(self, ref: Ref, *, namespace: str | None = None,
             label_selector: str | None = None, field_selector: str | None = None) -> list[Obj]:
        page = self._call(self._client.list(ref, namespace=namespace,
                                            label_selector=label_selector,
                                            field_selector=field_selector))
        return list(page.get("items") or [])

    def apply(self, body: Obj, *, field_manager: str = "kboot") -> Obj:
        return self._call(self._client.apply(body, field_manager=field_manager))

    def create(self, ref: Ref, body: Obj) -> Obj:
        return self._call(self._client.create(ref, body))

    def patch(self, ref: Ref, name: str, patch: Any, *, namespace: str | None = None,
              patch_type: PatchType = "merge") -> Obj:
        return self._call(self._client.patch(ref, name, patch, namespace=namespace,
                                             patch_type=patch_type))

    def replace(self, ref: Ref, body: Obj, *, subresource: str | None = None) -> Obj:
        return self._call(self._client.replace(ref, body, subresource=subresource))

    def delete(self, ref: Ref, name: str, *, namespace: str | None = None,
               options: DeleteOptions | None = None) -> Obj:
        return self._call(self._client.delete(ref, name, namespace=namespace, options=options))

    def create_subresource(self, ref: Ref, name: str, subresource: str, body: Obj, *,
                           namespace: str | None = None) -> Obj:
        return self._call(self._client.create_subresource(ref, name, subresource, body,
                                                          namespace=namespace))

    def wait_for(self, ref: Ref, predicate: Callable[[builtins.list[Obj]], bool], *,
                 namespace: str | None = None, label_selector: str | None = None,
                 timeout: float = 300.0, interval: float = 1.0) -> builtins.list[Obj]:
        """Poll the list until ``predicate(items)`` holds; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            items = self.list(ref, namespace=namespace, label_selector=label_selector)
            if predicate(items):
                return items
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {ref}")
            time.sleep(interval)

    def wait_nodes_ready(self, count: int, *, timeout: float = 300.0) -> builtins.list[Obj]:
        """Wait until at least ``count`` nodes report Ready."""
        return self.wait_for("nodes", lambda ns: sum(map(node_ready, ns)) >= count,
                             timeout=timeout)

    def close(self) -> None:
        if self._loop.is_running():
            self._call(self._client.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
