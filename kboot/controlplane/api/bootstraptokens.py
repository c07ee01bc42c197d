"""Bootstrap tokens: ``kube-system/bootstrap-token-<id>`` Secrets that let a new node join.

A token ``<id>.<secret>`` authenticates as ``system:bootstrap:<id>`` in ``system:bootstrappers``
while its Secret says ``usage-bootstrap-authentication: "true"`` and its ``expiration`` (RFC
3339) has not passed. The apiserver checks it, the token cleaner deletes expired ones, and
``kboot up`` creates one when nodes still have to join. Pure functions over the Secret.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

SECRET_TYPE = "bootstrap.kubernetes.io/token"
NAMESPACE = "kube-system"
NAME_PREFIX = "bootstrap-token-"


def secret_name(token_id: str) -> str:
    return f"{NAME_PREFIX}{token_id}"


def data(secret: Mapping[str, Any]) -> dict[str, str]:
    """The Secret's data, decoded (values that are not base64 text read as '')."""
    out: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            out[str(key)] = ""
    for key, value in (secret.get("stringData") or {}).items():
        out[str(key)] = str(value)
    return out


def expiration(secret: Mapping[str, Any]) -> datetime | None:
    """When the token stops working; None if it never expires. An unreadable date counts as
    already expired (upstream's rule: fail closed)."""
    text = data(secret).get("expiration", "")
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def is_expired(secret: Mapping[str, Any], now: datetime) -> bool:
    when = expiration(secret)
    return when is not None and when <= now


def token_secret(token_id: str, token_secret_value: str, *, expires: datetime,
                 description: str, extra_groups: tuple[str, ...] = ()) -> dict[str, Any]:
    """The Secret that makes ``<token_id>.<token_secret_value>`` a join token until
    ``expires``."""
    fields = {
        "token-id": token_id,
        "token-secret": token_secret_value,
        "expiration": expires.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "usage-bootstrap-authentication": "true",
        "description": description,
    }
    if extra_groups:
        fields["auth-extra-groups"] = ",".join(extra_groups)
    return {
        "apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
        "metadata": {"name": secret_name(token_id), "namespace": NAMESPACE},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in fields.items()},
    }
