"""Subresources other than status: scale, binding, eviction, and the kubelet-proxied log,
exec and attach."""

from __future__ import annotations

from aiohttp import web

from kboot.controlplane.apiserver.errors import method_not_allowed
from kboot.controlplane.apiserver.state import Scope, ServerState


async def handle(state: ServerState, scope: Scope, request: web.Request) -> web.StreamResponse:
    raise method_not_allowed()
