"""A small client of the OCI distribution API (what ``docker push`` speaks), over HTTPS.

Enough for ``kboot image push`` and ``kboot image list``: blob existence (HEAD, so layers the
registry already has are never sent again), blob uploads (monolithic: one streamed PUT; chunked:
PATCHes with ``Content-Range``, for registries or proxies that cap request sizes), manifests by
tag or digest, the catalogue and tag lists. Basic authentication only (the cluster registry's
htpasswd); the server certificate is checked against the cluster CA. Standard library HTTP:
one keep-alive connection per client, blocking (the workstation pushes one registry per thread).
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse
from base64 import b64encode
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CHUNK = 1 << 20


class RegistryError(RuntimeError):
    """The registry refused a request or could not be reached (says which and why)."""


@dataclass(frozen=True)
class Endpoint:
    """Where one registry answers and how to authenticate to it."""

    address: str  # host:port
    ca_file: Path | None = None
    username: str = ""
    password: str = ""


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


class DistributionClient:
    def __init__(self, endpoint: Endpoint, *, timeout: float = 120.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._conn: http.client.HTTPSConnection | None = None

    # -- transport ------------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPSConnection:
        if self._conn is None:
            ctx = ssl.create_default_context(cafile=str(self.endpoint.ca_file)
                                             if self.endpoint.ca_file else None)
            host, _, port = self.endpoint.address.rpartition(":")
            self._conn = http.client.HTTPSConnection(host, int(port), timeout=self.timeout,
                                                     context=ctx)
        return self._conn

    def request(self, method: str, path: str, *, body: bytes | IO[bytes] | None = None,
                headers: Mapping[str, str] | None = None, expect: tuple[int, ...] = (200,)
                ) -> Response:
        """One request; a status outside ``expect`` raises RegistryError with the registry's
        own error text."""
        hdrs = dict(headers or {})
        if self.endpoint.username:
            token = b64encode(f"{self.endpoint.username}:{self.endpoint.password}".encode())
            hdrs["Authorization"] = "Basic " + token.decode()
        if body is None and method in ("PUT", "POST", "PATCH"):
            hdrs.setdefault("Content-Length", "0")
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise RegistryError(f"registry {self.endpoint.address}: {method} {path}: "
                                f"{type(exc).__name__}: {exc}") from None
        result = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        if resp.status not in expect:
            raise RegistryError(f"registry {self.endpoint.address}: {method} {path}: "
                                f"{resp.status} {_error_text(data)}")
        return result

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- API ------------------------------------------------------------------------------------

    def ping(self) -> None:
        """``GET /v2/``: reachable, speaks the API, and accepts our credentials."""
        self.request("GET", "/v2/")

    def has_blob(self, repo: str, digest: str) -> bool:
        r = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", expect=(200, 404))
        return r.status == 200

    def upload_blob(self, repo: str, digest: str, size: int, stream: IO[bytes], *,
                    chunk_size: int = 0) -> None:
        """Upload a blob: one streamed PUT, or PATCHes of ``chunk_size`` bytes then a PUT."""
        start = self.request("POST", f"/v2/{repo}/blobs/uploads/", expect=(202,))
        location = self._location(start)
        if chunk_size:
            offset = 0
            for chunk in iter(lambda: stream.read(chunk_size), b""):
                r = self.request("PATCH", location, body=chunk, expect=(202,), headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(len(chunk)),
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
                offset += len(chunk)
                location = self._location(r)
            self.request("PUT", _with_query(location, digest=digest), expect=(201,))
            return
        self.request("PUT", _with_query(location, digest=digest), body=stream, expect=(201,),
                     headers={"Content-Type": "application/octet-stream",
                              "Content-Length": str(size)})

    def manifest_digest(self, repo: str, reference: str, accept: tuple[str, ...]) -> str | None:
        r = self.request("HEAD", f"/v2/{repo}/manifests/{reference}", expect=(200, 404),
                         headers={"Accept": ", ".join(accept)})
        return r.headers.get("docker-content-digest") if r.status == 200 else None

    def put_manifest(self, repo: str, reference: str, media_type: str, body: bytes) -> str:
        r = self.request("PUT", f"/v2/{repo}/manifests/{reference}", body=body, expect=(201,),
                         headers={"Content-Type": media_type, "Content-Length": str(len(body))})
        return r.headers.get("docker-content-digest", "")

    def get_manifest(self, repo: str, reference: str, accept: tuple[str, ...]) -> Response:
        return self.request("GET", f"/v2/{repo}/manifests/{reference}",
                            headers={"Accept": ", ".join(accept)})

    def repositories(self) -> list[str]:
        return list(self._paged("/v2/_catalog?n=500", "repositories"))

    def tags(self, repo: str) -> list[str]:
        return list(self._paged(f"/v2/{repo}/tags/list?n=500", "tags"))

    def _paged(self, path: str, key: str) -> Iterator[str]:
        while path:
            r = self.request("GET", path)
            yield from json.loads(r.body).get(key) or []
            path = _next_link(r.headers.get("link", ""))

    @staticmethod
    def _location(r: Response) -> str:
        loc = r.headers.get("location", "")
        if not loc:
            raise RegistryError("registry answered an upload without a Location header")
        parts = urllib.parse.urlsplit(loc)
        return urllib.parse.urlunsplit(("", "", parts.path, parts.query, ""))


def _with_query(location: str, **params: str) -> str:
    sep = "&" if "?" in location else "?"
    return location + sep + urllib.parse.urlencode(params)


def _next_link(header: str) -> str:
    """The path of an RFC 5988 ``Link: </v2/_catalog?last=x&n=500>; rel="next"`` header."""
    if 'rel="next"' not in header:
        return ""
    return header.split(";", 1)[0].strip().strip("<>")


def _error_text(body: bytes) -> str:
    """The registry's ``{"errors": [{"code", "message"}]}`` as one line."""
    try:
        errors = json.loads(body).get("errors") or []
        return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}" for e in errors)
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace")
