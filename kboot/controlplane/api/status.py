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

from typing import Any

from kboot.controlplane.errors import ControlPlaneError


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
            body["details"] = self.details
        body["code"] = self.code
        return body
