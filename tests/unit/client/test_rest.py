"""The REST client against a tiny in-process HTTP server: typed errors, retries only on 503
and on a 429 with Retry-After (honouring it), never on other 4xx nor on a budget's 429, watch
decoding and Expired."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from kboot.controlplane.client.config import ClientConfig
from kboot.controlplane.client.errors import Expired, Invalid, NotFound, TooManyRequests
from kboot.controlplane.client.rest import Client

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def status(code: int, reason: str) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "code": code, "reason": reason, "message": reason}, status=code)


async def serve(handler: Handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def run_against(handler: Handler,
                body: Callable[[Client], Awaitable[object]]) -> object:
    async def go() -> object:
        runner, url = await serve(handler)
        client = Client(ClientConfig(server=url))
        try:
            return await body(client)
        finally:
            await client.close()
            await runner.cleanup()

    return asyncio.run(go())


def test_retries_503_with_retry_after_then_succeeds() -> None:
    calls: list[str] = []

    async def handler(req: web.Request) -> web.StreamResponse:
        calls.append(req.path)
        if len(calls) < 3:
            resp = status(503, "ServiceUnavailable")
            resp.headers["Retry-After"] = "0.01"
            return resp
        return web.json_response({"kind": "Pod", "metadata": {"name": "p"}})

    got = run_against(handler, lambda c: c.get("pods", "p", namespace="ns"))
    assert got == {"kind": "Pod", "metadata": {"name": "p"}}
    assert calls == ["/api/v1/namespaces/ns/pods/p"] * 3


def test_a_429_with_retry_after_is_retried_one_without_is_the_answer() -> None:
    """Overload says when to come back; an eviction a disruption budget refuses does not, and
    the caller (a drain) must see that refusal at once, not the eviction seconds later."""
    calls: list[str] = []

    async def handler(req: web.Request) -> web.StreamResponse:
        calls.append(req.path)
        resp = status(429, "TooManyRequests")
        if req.path.endswith("/busy") and len(calls) < 2:
            resp.headers["Retry-After"] = "0.01"
        elif req.path.endswith("/busy"):
            return web.json_response({"kind": "Pod", "metadata": {"name": "busy"}})
        return resp

    got = run_against(handler, lambda c: c.get("pods", "busy", namespace="ns"))
    assert got == {"kind": "Pod", "metadata": {"name": "busy"}}
    assert calls == ["/api/v1/namespaces/ns/pods/busy"] * 2
    calls.clear()
    with pytest.raises(TooManyRequests):
        run_against(handler, lambda c: c.create_subresource(
            "pods", "web", "eviction", {"apiVersion": "policy/v1", "kind": "Eviction"},
            namespace="ns"))
    assert calls == ["/api/v1/namespaces/ns/pods/web/eviction"]


@pytest.mark.parametrize("code,reason,exc", [(404, "NotFound", NotFound),
                                             (422, "Invalid", Invalid)])
def test_client_errors_are_typed_and_never_retried(code: int, reason: str,
                                                   exc: type[Exception]) -> None:
    calls: list[str] = []

    async def handler(req: web.Request) -> web.StreamResponse:
        calls.append(req.method)
        return status(code, reason)

    with pytest.raises(exc):
        run_against(handler, lambda c: c.create("deployments.apps", {
            "metadata": {"name": "d", "namespace": "ns"}}))
    assert calls == ["POST"]


def test_patch_sends_content_type_and_field_manager() -> None:
    seen: dict[str, str] = {}

    async def handler(req: web.Request) -> web.StreamResponse:
        seen.update(ct=req.content_type, fm=req.query.get("fieldManager", ""),
                    path=req.path, body=await req.text())
        return web.json_response({})

    run_against(handler, lambda c: c.patch("deployments", "d", {"spec": {"replicas": 2}},
                                           namespace="ns", patch_type="strategic",
                                           field_manager="me"))
    assert seen["ct"] == "application/strategic-merge-patch+json"
    assert seen["fm"] == "me"
    assert seen["path"] == "/apis/apps/v1/namespaces/ns/deployments/d"
    assert json.loads(seen["body"]) == {"spec": {"replicas": 2}}


def test_watch_decodes_events_and_raises_expired() -> None:
    async def handler(req: web.Request) -> web.StreamResponse:
        assert req.query["watch"] == "true"
        resp = web.StreamResponse()
        await resp.prepare(req)
        for ev in ({"type": "ADDED", "object": {"metadata": {"name": "a"}}},
                   {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}},
                   {"type": "ERROR", "object": {"kind": "Status", "code": 410,
                                                "reason": "Expired", "message": "too old"}}):
            await resp.write(json.dumps(ev).encode() + b"\n")
        return resp

    seen: list[str] = []

    async def body(c: Client) -> None:
        async for ev in c.watch("pods", resource_version="5"):
            seen.append(ev.type)

    with pytest.raises(Expired):
        run_against(handler, body)
    assert seen == ["ADDED", "BOOKMARK"]
