"""A tiny HTTPS helper for raw API calls in the acceptance tests (status, headers, JSON body)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from tests.fixtures.apiserver import ApiServer, Identity


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


def call(server: ApiServer, method: str, path: str, body: bytes | str | Any = None, *,
         content_type: str = "application/json", identity: Identity | None = None,
         token: str | None = None, anonymous: bool = False, accept: str = "application/json",
         ) -> Reply:
    if anonymous or token:
        ctx = ssl.create_default_context(cafile=str(server.ca_file))
    else:
        ctx = server.ssl_context(identity)
    if body is not None and not isinstance(body, bytes | str):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    headers = {"Accept": accept}
    if data is not None:
        headers["Content-Type"] = content_type
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(server.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            raw, status, hdrs = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as err:
        raw, status, hdrs = err.read(), err.code, dict(err.headers)
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Reply(status, hdrs, parsed)
