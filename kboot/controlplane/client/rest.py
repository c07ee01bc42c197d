"""The real :class:`~kboot.controlplane.client.api.ApiClient`: async REST over aiohttp.

One pooled session per client, TLS client certificates or a bearer token, JSON bodies.
Non-streaming requests run under :func:`retry.api_request_policy`; watches are never retried
here (informers own reconnection, since only they know the resourceVersion to resume from).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from kboot.controlplane.client.api import (
    PATCH_CONTENT_TYPES,
    ApiClient,
    DeleteOptions,
    Obj,
    PatchType,
    Ref,
    WatchEvent,
    resolve,
)
from kboot.controlplane.client.config import ClientConfig, load_kubeconfig
from kboot.controlplane.client.errors import ApiError, from_status
from kboot.controlplane.client.retry import api_request_policy

log = logging.getLogger(__name__)
Params = dict[str, str]


def _status_of(text: str, code: int) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status":
        return body
    return {"kind": "Status", "status": "Failure", "code": code, "message": text[:500],
            "reason": "Unknown"}


def _retry_after(resp: aiohttp.ClientResponse) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


class Client(ApiClient):
    """Talks to one apiserver URL. Create inside a running event loop; ``await close()``."""

    def __init__(self, config: ClientConfig, *, pool_size: int = 100,
                 timeout: float = 30.0) -> None:
        self.config = config
        headers = {"User-Agent": config.user_agent, "Accept": "application/json"}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        connector = aiohttp.TCPConnector(ssl=config.ssl_context() or False, limit=pool_size)
        self._session = aiohttp.ClientSession(connector=connector, headers=headers)
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str], *, context: str | None = None,
                        **kwargs: Any) -> Client:
        return cls(load_kubeconfig(path, context=context), **kwargs)

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _url(self, ref: Ref, namespace: str | None, name: str | None = None,
             subresource: str | None = None) -> str:
        path = resolve(ref).url_path(namespace, name)
        if subresource:
            path += f"/{subresource}"
        return self.config.server + path

    async def request(self, method: str, url: str, *, params: Params | None = None,
                      body: Any = None, content_type: str = "application/json") -> Obj:
        """One request under the retry policy; the decoded JSON body, or a typed ApiError."""
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else None
        async for attempt in api_request_policy():
            with attempt:
                return await self._once(method, url, params=params, data=data, headers=headers)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, method: str, url: str, *, params: Params | None, data: str | None,
                    headers: dict[str, str] | None) -> Obj:
        async with self._session.request(method, url, params=params, data=data,
                                         headers=headers, timeout=self._timeout) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise from_status(_status_of(text, resp.status), code=resp.status,
                                  retry_after=_retry_after(resp))
            result: Obj = json.loads(text) if text else {}
            return result

    # -- verbs ------------------------------------------------------------------------------

    async def get(self, ref: Ref, name: str, *, namespace: str | None = None) -> Obj:
        return await self.request("GET", self._url(ref, namespace, name))

    async def list(self, ref: Ref, *, namespace: str | None = None,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None) -> Obj:
        params = _query(labelSelector=label_selector, fieldSelector=field_selector,
                        limit=str(limit) if limit else None, resourceVersion=resource_version)
        if continue_:
            params["continue"] = continue_
        return await self.request("GET", self._url(ref, namespace), params=params)

    async def create(self, ref: Ref, body: Obj, *, namespace: str | None = None,
                     field_manager: str | None = None) -> Obj:
        ns = namespace or (body.get("metadata") or {}).get("namespace")
        return await self.request("POST", self._url(ref, ns), body=body,
                                  params=_query(fieldManager=field_manager))

    async def replace(self, ref: Ref, body: Obj, *, subresource: str | None = None) -> Obj:
        meta = body.get("metadata") or {}
        url = self._url(ref, meta.get("namespace"), meta["name"], subresource)
        return await self.request("PUT", url, body=body)

    async def patch(self, ref: Ref, name: str, patch: Any, *, namespace: str | None = None,
                    patch_type: PatchType = "merge", field_manager: str | None = None,
                    force: bool = False, subresource: str | None = None) -> Obj:
        params = _query(fieldManager=field_manager, force="true" if force else None)
        return await self.request("PATCH", self._url(ref, namespace, name, subresource),
                                  params=params, body=patch,
                                  content_type=PATCH_CONTENT_TYPES[patch_type])

    async def delete(self, ref: Ref, name: str, *, namespace: str | None = None,
                     options: DeleteOptions | None = None) -> Obj:
        body = (options or DeleteOptions()).body()
        return await self.request("DELETE", self._url(ref, namespace, name), body=body)

    async def create_subresource(self, ref: Ref, name: str, subresource: str, body: Obj, *,
                                 namespace: str | None = None) -> Obj:
        return await self.request("POST", self._url(ref, namespace, name, subresource),
                                  body=body)

    async def watch(self, ref: Ref, *, namespace: str | None = None,
                    label_selector: str | None = None, field_selector: str | None = None,
                    resource_version: str | None = None, allow_bookmarks: bool = True,
                    timeout_seconds: int | None = None) -> AsyncIterator[WatchEvent]:
        """Events after ``resource_version`` until the server ends the stream.

        Raises :class:`~kboot.controlplane.client.errors.Expired` when the version is gone.
        """
        params = _query(watch="true", labelSelector=label_selector,
                        fieldSelector=field_selector, resourceVersion=resource_version,
                        allowWatchBookmarks="true" if allow_bookmarks else None,
                        timeoutSeconds=str(timeout_seconds) if timeout_seconds else None)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        async with self._session.get(self._url(ref, namespace), params=params,
                                     timeout=timeout) as resp:
            if resp.status >= 400:
                raise from_status(_status_of(await resp.text(), resp.status), code=resp.status)
            async for line in _lines(resp.content):
                yield _decode_event(line)


def _query(**values: str | None) -> Params:
    return {k: v for k, v in values.items() if v is not None and v != ""}


async def _lines(stream: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    buf = b""
    async for chunk in stream.iter_any():
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                yield line
    if buf.strip():
        yield buf


def _decode_event(line: bytes) -> WatchEvent:
    event = json.loads(line)
    kind, obj = event.get("type"), event.get("object") or {}
    if kind == "ERROR":
        raise from_status(obj, code=int(obj.get("code") or 500))
    if kind not in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
        raise ApiError({"message": f"unknown watch event type {kind!r}"}, code=500)
    return WatchEvent(kind, obj)
