"""Converting custom resources between the versions of their CRD, as upstream does.

``spec.conversion.strategy: None`` is upstream's ``nopConverter``: the same object under the
other ``apiVersion``. ``Webhook`` POSTs a ``ConversionReview`` (``apiextensions.k8s.io/v1``) to
``spec.conversion.webhook.clientConfig`` — a URL or a Service, trusted through ``caBundle``,
over the admission webhooks' client (:mod:`.webhooks.client`) — and checks the answer the way
upstream's ``webhookConverter`` does: same ``uid``, ``result.status: Success``, one converted
object per object sent, each in the desired version and of the same kind, and only labels and
annotations of ``metadata`` taken from the webhook (the rest is the original's). Any failure
is a 500 ``conversion webhook for <group>/<version>, Kind=<kind> failed: <why>``.
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from kboot.controlplane.api.crd import versions
from kboot.controlplane.api.crd.paths import field_of
from kboot.controlplane.api.selectors import LabelSelector
from kboot.controlplane.apiserver.errors import JsonObj, internal
from kboot.controlplane.apiserver.webhooks.client import CallError
from kboot.controlplane.apiserver.webhooks.matching import Webhook
from kboot.controlplane.errors import ControlPlaneError

if TYPE_CHECKING:
    from kboot.controlplane.apiserver.state import ServerState

TIMEOUT_SECONDS = 30  # upstream's conversion webhook timeout
REVIEW_API = "apiextensions.k8s.io/v1"


class ConversionFailed(ControlPlaneError):
    """The webhook's answer broke the protocol (the message says how)."""


def strategy_of(crd: JsonObj) -> str:
    return str(field_of(field_of(crd, "spec"), "conversion").get("strategy") or "None")


async def convert(state: ServerState, crd: JsonObj, objs: list[JsonObj], to: str
                  ) -> list[JsonObj]:
    """``objs`` as ``to`` (``group/version``), in order; objects already in ``to`` pass
    unchanged. Raises a 500 StatusError when a webhook conversion fails."""
    pending = [i for i, o in enumerate(objs) if o.get("apiVersion") != to]
    if not pending:
        return list(objs)
    out = list(objs)
    if strategy_of(crd) != "Webhook":
        for i in pending:
            out[i] = versions.convert(objs[i], crd, to.rpartition("/")[2])
        return out
    sent = [objs[i] for i in pending]
    try:
        converted = await _call(state, crd, sent, to)
    except (CallError, ConversionFailed) as err:
        gvk = f"{sent[0].get('apiVersion')}, Kind={sent[0].get('kind')}"
        raise internal(f"conversion webhook for {gvk} failed: {err}") from None
    for i, obj in zip(pending, converted, strict=True):
        out[i] = obj
    return out


def review_of(objs: list[JsonObj], to: str, uid: str) -> JsonObj:
    return {"apiVersion": REVIEW_API, "kind": "ConversionReview",
            "request": {"uid": uid, "desiredAPIVersion": to, "objects": objs}}


def _hook(crd: JsonObj) -> Webhook:
    webhook = field_of(field_of(field_of(crd, "spec"), "conversion"), "webhook")
    name = str(field_of(crd, "metadata").get("name") or "")
    return Webhook(configuration=name, name=name, mutating=False, rules=(),
                   failure_policy="Fail", match_policy="Exact", side_effects="None",
                   timeout=TIMEOUT_SECONDS, reinvocation="Never",
                   namespace_selector=LabelSelector(), object_selector=LabelSelector(),
                   client_config=field_of(webhook, "clientConfig"))


async def _call(state: ServerState, crd: JsonObj, objs: list[JsonObj], to: str
                ) -> list[JsonObj]:
    if state.webhooks is None:
        raise ConversionFailed("webhooks are not enabled on this apiserver")
    uid = str(uuid.uuid4())
    reply = await state.webhooks.client.call(_hook(crd), review_of(objs, to, uid))
    return read_response(reply, objs, to, uid)


def read_response(reply: Any, sent: list[JsonObj], to: str, uid: str) -> list[JsonObj]:
    """The converted objects of a ``ConversionReview`` answer (pure; ConversionFailed)."""
    if not isinstance(reply, dict) or not isinstance(reply.get("response"), dict):
        raise ConversionFailed("conversion review response is missing")
    response = reply["response"]
    if response.get("uid") != uid:
        raise ConversionFailed(f"expected response.uid={uid}, got {response.get('uid')}")
    result = field_of(response, "result")
    if result.get("status") != "Success":
        raise ConversionFailed(f"conversion webhook returned failure: "
                               f"{result.get('message') or result.get('status')}")
    converted = response.get("convertedObjects")
    if not isinstance(converted, list) or len(converted) != len(sent):
        count = len(converted) if isinstance(converted, list) else 0
        raise ConversionFailed(f"expected {len(sent)} converted objects, got {count}")
    pairs = enumerate(zip(converted, sent, strict=True))
    return [_checked(new, old, to, i) for i, (new, old) in pairs]


def _checked(new: Any, old: JsonObj, to: str, i: int) -> JsonObj:
    if not isinstance(new, dict):
        raise ConversionFailed(f"convertedObjects[{i}] is not an object")
    if new.get("apiVersion") != to:
        raise ConversionFailed(f"invalid apiVersion {new.get('apiVersion')!r} in "
                               f"convertedObjects[{i}], expected {to!r}")
    if new.get("kind") != old.get("kind"):
        raise ConversionFailed(f"invalid kind {new.get('kind')!r} in convertedObjects[{i}], "
                               f"expected {old.get('kind')!r}")
    meta = copy.deepcopy(field_of(old, "metadata"))
    new_meta = field_of(new, "metadata")
    for key in ("labels", "annotations"):  # upstream's restoreObjectMeta
        if key in new_meta:
            meta[key] = new_meta[key]
        else:
            meta.pop(key, None)
    return {**new, "metadata": meta}
