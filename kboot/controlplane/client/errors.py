"""The client's exception hierarchy: one class per Kubernetes ``Status`` reason that callers act on.

What the client *receives*; the apiserver *answers* with ``api.status.StatusError``. Both sit
under :class:`kboot.controlplane.errors.ControlPlaneError`.

::

    ApiError                 any non-2xx answer; carries the decoded Status
    ├── BadRequest           400
    ├── Unauthorized         401
    ├── Forbidden            403
    ├── NotFound             404
    ├── Conflict             409 reason Conflict (stale resourceVersion)
    │   └── AlreadyExists    409 reason AlreadyExists
    ├── Expired              410 (watch RV or continue token compacted): relist
    ├── Invalid              422 (``causes`` carry field paths)
    ├── TooManyRequests      429 (``retry_after``)
    └── ServerUnavailable    5xx (503 is retried)
"""

from __future__ import annotations

from typing import Any

from kboot.controlplane.errors import ControlPlaneError


class ApiError(ControlPlaneError):
    """A non-success answer from the apiserver; ``status`` is the decoded ``Status`` object."""

    def __init__(self, status: dict[str, Any], *, code: int | None = None,
                 retry_after: float | None = None) -> None:
        self.status = status
        self.code = int(code if code is not None else status.get("code") or 0)
        self.reason = str(status.get("reason", ""))
        self.message = str(status.get("message", ""))
        self.retry_after = retry_after
        super().__init__(f"{self.code} {self.reason}: {self.message}")

    @property
    def causes(self) -> list[dict[str, Any]]:
        details = self.status.get("details") or {}
        return list(details.get("causes") or [])


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class AlreadyExists(Conflict):
    pass


class Expired(ApiError):
    pass


class Invalid(ApiError):
    pass


class TooManyRequests(ApiError):
    pass


class ServerUnavailable(ApiError):
    pass


_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
    410: Expired, 422: Invalid, 429: TooManyRequests,
}


def status_error(code: int, reason: str, message: str, **details: Any) -> ApiError:
    """Build the typed error for a status code, as the apiserver would have sent it."""
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": message, "reason": reason, "code": code, "details": details}
    return from_status(status, code=code)


def from_status(status: dict[str, Any], *, code: int,
                retry_after: float | None = None) -> ApiError:
    """Map a decoded Status (or any body) to the most specific exception class."""
    if code == 409 and status.get("reason") == "AlreadyExists":
        cls: type[ApiError] = AlreadyExists
    elif code >= 500:
        cls = ServerUnavailable
    else:
        cls = _BY_CODE.get(code, ApiError)
    return cls(status, code=code, retry_after=retry_after)
