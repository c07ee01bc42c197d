"""API errors as upstream ``Status`` objects (reference §11).

Every failure the apiserver reports travels as :class:`StatusError`, which carries the HTTP code,
the upstream ``reason`` and the ``details`` a client needs (kubectl prints the message; client-go
switches on the reason). Handlers raise; the error middleware renders. Nothing else builds
Status bodies, so reasons and messages stay consistent with kube-apiserver's.
"""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.api.status import StatusError as StatusError  # the one error class

JsonObj = dict[str, Any]


def _details(kind: ResourceKind, name: str, **extra: Any) -> JsonObj:
    details: JsonObj = {"name": name, "kind": kind.plural}
    if "kind_name" in extra:
        details["kind"] = extra.pop("kind_name")
    if kind.group:
        details["group"] = kind.group
    details.update(extra)
    return details


def _qualified(kind: ResourceKind) -> str:
    return f"{kind.plural}.{kind.group}" if kind.group else kind.plural


def not_found(kind: ResourceKind, name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{_qualified(kind)} "{name}" not found',
                    details=_details(kind, name))


def already_exists(kind: ResourceKind, name: str) -> StatusError:
    return StatusError(409, "AlreadyExists", f'{_qualified(kind)} "{name}" already exists',
                    details=_details(kind, name))


def conflict(kind: ResourceKind, name: str, why: str | None = None) -> StatusError:
    why = why or ("the object has been modified; please apply your changes to the latest "
                  "version and try again")
    return StatusError(409, "Conflict",
                    f'Operation cannot be fulfilled on {_qualified(kind)} "{name}": {why}',
                    details=_details(kind, name))


def invalid(kind: ResourceKind, name: str, causes: list[JsonObj]) -> StatusError:
    summary = ", ".join(
        f"{c.get('field', '')}: {c.get('message', '')}".lstrip(": ") for c in causes)
    qualified = f"{kind.kind}.{kind.group}" if kind.group else kind.kind  # Deployment.apps
    return StatusError(422, "Invalid", f'{qualified} "{name}" is invalid: [{summary}]'
                       if len(causes) > 1 else f'{qualified} "{name}" is invalid: {summary}',
                       details=_details(kind, name, kind_name=kind.kind, causes=causes))


def bad_request(message: str, causes: list[JsonObj] | None = None) -> StatusError:
    details = {"causes": causes} if causes else None
    return StatusError(400, "BadRequest", message, details=details)


def expired(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def gone_too_old(requested: int, compacted: int) -> StatusError:
    return StatusError(410, "Expired", f"too old resource version: {requested} ({compacted})")


def method_not_allowed(message: str = "the server does not allow this method on the "
                       "requested resource") -> StatusError:
    return StatusError(405, "MethodNotAllowed", message)


def unsupported_media(content_type: str) -> StatusError:
    return StatusError(415, "UnsupportedMediaType",
                    f'the body of the request was in an unknown format - accepted media types '
                    f'include: application/json, application/yaml (got "{content_type}")')


def not_acceptable(accept: str) -> StatusError:
    return StatusError(406, "NotAcceptable", f'only the following media types are accepted: '
                    f'application/json, application/yaml (got "{accept}")')


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def forbidden_message(user: str, verb: str, resource: str, group: str,
                      namespace: str | None, name: str = "") -> str:
    """Upstream's wording: ``User "u" cannot list resource "pods" in API group "" …``."""
    where = (f' in the namespace "{namespace}"' if namespace else " at the cluster scope")
    subject = f'User "{user}" cannot {verb} resource "{resource}" in API group "{group}"'
    return f"{subject}{where}"


def forbidden(kind_plural: str, group: str, name: str, message: str) -> StatusError:
    details: JsonObj = {"name": name, "kind": kind_plural}
    if group:
        details["group"] = group
    return StatusError(403, "Forbidden", message, details=details)


def too_large(message: str = "Request entity too large: limit is 3145728") -> StatusError:
    return StatusError(413, "RequestEntityTooLarge", message)


def internal(message: str) -> StatusError:
    return StatusError(500, "InternalError", f"Internal error occurred: {message}")


def timeout(message: str) -> StatusError:
    return StatusError(504, "Timeout", message)
