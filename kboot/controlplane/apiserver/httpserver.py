"""The HTTP layer's own refusals (oversized request line or headers, malformed HTTP) as ``Status``.

aiohttp answers requests its parser rejects before any handler or middleware runs, with a
plain-text body. Kubernetes clients expect a ``Status`` object from every API error, so this
module swaps in a request handler whose error page is one. Go's net/http counts the request line
and the headers against one limit and answers 431 when it is exceeded; kboot keeps aiohttp's
per-line limits (:data:`MAX_LINE`, :data:`MAX_FIELD`, :data:`MAX_HEADERS`) and answers 431 the
same way, 400 for any other malformed request.

aiohttp offers no public hook for this page, so :class:`StatusRunner` builds its ``Server`` from
the one ``AppRunner`` made, with the same handler, request factory and settings; the integration
tests (tests/integration/apiserver/test_decode_limits.py) pin the behaviour across upgrades.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from kboot.controlplane.apiserver.codec import status_response
from kboot.controlplane.apiserver.errors import StatusError

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024  # request line (method, URL, version): long label/field selectors fit
MAX_FIELD = 64 * 1024  # one header line
MAX_HEADERS = 128


def error_status(status: int, exc: BaseException | None, message: str | None) -> StatusError:
    """The Status for a request the HTTP layer could not handle."""
    if isinstance(exc, LineTooLong) or (message or "").startswith("Too many headers"):
        return StatusError(431, "RequestHeaderFieldsTooLarge",
                        f"request header fields too large: the request line and each header "
                        f"may be at most {MAX_LINE} bytes, at most {MAX_HEADERS} headers")
    if status == 400:
        detail = (message or str(exc or "") or "malformed request").splitlines()[0][:300]
        return StatusError(400, "BadRequest", f"malformed HTTP request: {detail}")
    if status == 504:
        return StatusError(504, "Timeout", "the request timed out")
    return StatusError(500, "InternalError", "Internal error occurred: the HTTP layer failed")


class _StatusRequestHandler(RequestHandler):
    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None, message: str | None = None
                     ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("the response has started: no room for an error Status")
        error = error_status(status, exc, message)
        if error.code >= 500:
            log.error("HTTP layer error serving %s", request.remote, exc_info=exc)
        else:
            log.info("refused a malformed request from %s: %s", request.remote, error.message)
        response = status_response(error)
        response.force_close()
        return response


class _StatusServer(web.Server):
    def __init__(self, inner: web.Server, kwargs: dict[str, Any]) -> None:
        super().__init__(inner.request_handler, request_factory=inner.request_factory,
                         handler_cancellation=inner.handler_cancellation, **kwargs)
        self._settings = kwargs

    def __call__(self) -> RequestHandler:
        return _StatusRequestHandler(self, loop=self._loop, **self._settings)


class StatusRunner(web.AppRunner):
    """An ``AppRunner`` whose HTTP-level error pages are ``Status`` objects."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("max_line_size", MAX_LINE)
        kwargs.setdefault("max_field_size", MAX_FIELD)
        kwargs.setdefault("max_headers", MAX_HEADERS)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        inner = await super()._make_server()
        return _StatusServer(inner, dict(inner._kwargs))
