"""``AdmissionReview`` v1: building the request and reading the response, pure.

A response that breaks the protocol (wrong uid, no ``allowed``, a patch that is not a base64
JSONPatch) is a *call failure*, decided by ``failurePolicy`` like a refused connection — as
upstream treats it. A denial is not a failure: it always refuses the write, with the message
upstream formats (``admission webhook "x" denied the request: ...``).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kboot.controlplane.api.patch import PatchError, json_patch
from kboot.controlplane.api.status import StatusError
from kboot.controlplane.apiserver.auth import UserInfo
from kboot.controlplane.apiserver.webhooks.client import CallError
from kboot.controlplane.apiserver.webhooks.matching import Attributes, JsonObj

ADMISSION_V1 = "admission.k8s.io/v1"
_OPTIONS = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}
# bounds on what a webhook can put into the client's Warning headers
MAX_WARNING_LENGTH = 4096
MAX_WARNINGS = 16


class ReviewError(CallError):
    """A webhook answered outside the protocol (the call counts as failed)."""


@dataclass(frozen=True)
class Verdict:
    """What one webhook decided."""

    allowed: bool
    patch: list[Any] | None
    warnings: tuple[str, ...]
    status: Mapping[str, Any]


def build_request(attrs: Attributes, user: UserInfo, *, uid: str | None = None) -> JsonObj:
    """The ``AdmissionReview`` body sent for ``attrs`` (object in the served version)."""
    kind = attrs.kind
    # a CONNECT's kind is its options' (PodExecOptions), as upstream's subresource scope says
    kind_name = str(attrs.obj.get("kind")) if attrs.operation == "CONNECT" and attrs.obj \
        else kind.kind
    gvk = {"group": kind.group, "version": kind.version, "kind": kind_name}
    if attrs.body_kind is not None:
        gvk = dict(zip(("group", "version", "kind"), attrs.body_kind, strict=True))
    gvr = {"group": kind.group, "version": kind.version, "resource": kind.plural}
    request: JsonObj = {
        "uid": uid or str(uuid.uuid4()), "kind": gvk, "resource": gvr,
        "requestKind": gvk, "requestResource": gvr,
        "name": attrs.name, "operation": attrs.operation, "userInfo": user.to_json(),
        "object": attrs.obj, "oldObject": attrs.old, "dryRun": attrs.dry_run,
    }
    if attrs.subresource:
        request["subResource"] = request["requestSubResource"] = attrs.subresource
    if attrs.namespace:
        request["namespace"] = attrs.namespace
    if attrs.operation in _OPTIONS:
        request["options"] = {"apiVersion": "meta.k8s.io/v1", "kind": _OPTIONS[attrs.operation]}
    return {"apiVersion": ADMISSION_V1, "kind": "AdmissionReview", "request": request}


def read_response(body: Any, uid: str, *, mutating: bool) -> Verdict:
    """Parse a webhook's reply to the request ``uid``; :class:`ReviewError` if malformed."""
    if not isinstance(body, dict) or body.get("apiVersion") != ADMISSION_V1 or \
            body.get("kind") != "AdmissionReview":
        raise ReviewError("expected response of kind AdmissionReview in apiVersion "
                          f"{ADMISSION_V1}")
    response = body.get("response")
    if not isinstance(response, dict):
        raise ReviewError("webhook response was absent")
    if response.get("uid") != uid:
        raise ReviewError(f"expected response.uid={uid!r}, got {response.get('uid')!r}")
    allowed = response.get("allowed")
    if not isinstance(allowed, bool):
        raise ReviewError("webhook response must set a boolean 'allowed'")
    warnings = response.get("warnings") or []
    if not isinstance(warnings, list):
        raise ReviewError("webhook response 'warnings' must be a list of strings")
    raw_status = response.get("status")
    status: Mapping[str, Any] = raw_status if isinstance(raw_status, dict) else {}
    patch = _patch(response) if mutating and allowed else None
    return Verdict(allowed, patch, tuple(_warning(w) for w in warnings[:MAX_WARNINGS]), status)


def _warning(text: Any) -> str:
    value = " ".join(str(text).split())
    return value if len(value) <= MAX_WARNING_LENGTH else value[:MAX_WARNING_LENGTH - 3] + "..."


def _patch(response: Mapping[str, Any]) -> list[Any] | None:
    raw = response.get("patch")
    if not raw:
        return None
    patch_type = response.get("patchType")
    if patch_type != "JSONPatch":
        raise ReviewError(f'unsupported patch type "{patch_type}"')
    try:
        ops = json.loads(base64.b64decode(str(raw), validate=True))
    except (binascii.Error, ValueError) as err:
        raise ReviewError(f"the patch is not base64-encoded JSON: {err}") from None
    if not isinstance(ops, list):
        raise ReviewError("the patch must be a JSON list of operations")
    return ops


def apply_patch(obj: JsonObj, ops: list[Any], webhook: str) -> JsonObj:
    """Apply a webhook's JSONPatch with the project's RFC 6902 code; a patch that does not
    apply, or yields something else than an object, is a failure of that webhook call."""
    try:
        result = json_patch(obj, ops)
    except PatchError as err:
        raise ReviewError(f"JSONPatch from webhook {webhook!r} does not apply: {err}") from None
    if not isinstance(result, dict) or not isinstance(result.get("metadata"), dict):
        raise ReviewError(f"JSONPatch from webhook {webhook!r} did not produce an object")
    return result


def denial(webhook: str, status: Mapping[str, Any]) -> StatusError:
    """Upstream's ``ToStatusErr``: code at least 400, the webhook's message or reason."""
    code = status.get("code")
    code = code if isinstance(code, int) and 400 <= code <= 599 else 400
    denied_by = f'admission webhook "{webhook}" denied the request'
    message, reason = status.get("message"), status.get("reason")
    if message:
        text = f"{denied_by}: {message}"
    elif reason:
        text = f"{denied_by}: {reason}"
    else:
        text = f"{denied_by} without explanation"
    details = status.get("details") if isinstance(status.get("details"), dict) else None
    return StatusError(code, str(reason or ""), text, details=details)
