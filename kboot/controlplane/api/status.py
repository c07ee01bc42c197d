"""The error the apiserver answers with: a failure ``Status`` (reference §11).

:class:`StatusError` carries the HTTP code, the upstream ``reason``, the message and the
``details`` a client needs (kubectl prints the message; client-go switches on the reason).
Handlers and admission raise it, the apiserver's error middleware renders :meth:`status`.
It lives with the pure rules so that rules (and, later, per-kind strategies) can refuse a
request with the exact Status upstream would send; the named builders (``not_found``,
``invalid``…) are in ``apiserver/errors.py``.

Not to be confused with the client's ``ApiError``, which is what a client *receives*
(see :mod:`kboot.controlplane.errors`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from kboot.controlplane.errors import ControlPlaneError

# Go's StatusDetails and StatusCause field order (``omitempty`` on every field): encoding/json
# writes struct fields in declaration order, and clients (the Python client's e2e suite)
# compare error bodies as strings.
_DETAILS_ORDER = ("name", "group", "kind", "uid", "causes", "retryAfterSeconds")
_CAUSE_ORDER = ("reason", "message", "field")
# encoding/json's HTML-safe escapes, and U+FFFD for what is not valid UTF-8 (lone surrogates)
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
               "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESCAPED = re.compile(r"[<>&\u2028\u2029]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class StatusError(ControlPlaneError):
    """An error reply: ``code`` + ``reason`` + ``message`` (+ ``details``, ``headers``)."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        """The ``Status`` body (``kind: Status``, ``apiVersion: v1``), fields in upstream's order
        (``…, reason, details, code``: clients compare the bytes)."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = _go_ordered(self.details, _DETAILS_ORDER)
            if "causes" in body["details"]:
                body["details"]["causes"] = [_go_ordered(c, _CAUSE_ORDER)
                                             for c in body["details"]["causes"]]
        body["code"] = self.code
        return body

    def encode(self) -> bytes:
        """The body bytes kube-apiserver writes for this error: compact JSON as Go's
        ``json.Encoder`` produces it (non-ASCII as UTF-8, ``<>&`` escaped) and a newline."""
        return go_json(self.status()) + b"\n"


def _go_ordered(obj: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    """``obj`` with the known fields first in Go's order, empty ones dropped (``omitempty``),
    then any other field as it came."""
    known = {k: obj[k] for k in order if obj.get(k) not in (None, "", [], 0)}
    return {**known, **{k: v for k, v in obj.items() if k not in order}}


def go_json(obj: Any) -> bytes:
    """Compact JSON byte for byte as Go's encoding/json writes it for the same values."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    text = _GO_ESCAPED.sub(lambda m: _GO_ESCAPES[m.group()], text)
    return _SURROGATE.sub("\ufffd", text).encode()
