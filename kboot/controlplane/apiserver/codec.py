"""Request bodies in, response bodies out: JSON/YAML decoding and Accept negotiation.

kubectl sends JSON (YAML for some apply-patch bodies); strict field validation also needs the
*duplicate* keys of a body, which plain ``json.loads`` silently drops, so decoding records them.
Malformed input, and input that would cost more to decode than :mod:`.decodelimits` allows,
becomes a 400 ``Status`` here, never an exception further in; large bodies are decoded off the
event loop (:func:`read_object`, :mod:`.offload`) so one client's garbage cannot stall it.
Accept headers choose between plain objects, ``meta.k8s.io`` Tables and aggregated discovery.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from aiohttp import web

from kboot.controlplane.apiserver import protobuf, yamlbody
from kboot.controlplane.apiserver.decodelimits import (
    MAX_BODY,
    DecodeLimitError,
    check_depth,
    depth_error,
    may_be_too_deep,
)
from kboot.controlplane.apiserver.errors import (
    JsonObj,
    StatusError,
    bad_request,
    too_large,
    unsupported_media,
)
from kboot.controlplane.apiserver.offload import DECODERS

__all__ = ["MAX_BODY", "Decoded", "decode", "decode_object", "read_decoded", "read_object"]

JSON_TYPES = ("application/json", "application/merge-patch+json", "application/json-patch+json",
              "application/strategic-merge-patch+json")
YAML_TYPES = ("application/yaml", "application/apply-patch+yaml", "application/x-yaml",
              "text/yaml")
# Bodies above these sizes are decoded off the loop (:mod:`.offload`): YAML costs ~1 ms per KiB
# even with libyaml, JSON ~10 µs per KiB (plus the depth walk); below them the hop costs more
# than it saves.
# Set on a request answered through a view of another version (:mod:`.crdviews`): the
# decoded body is passed through BODY_FILTER; streamed objects (watch) through OBJECT_FILTER.
BODY_FILTER: web.RequestKey[Callable[[web.Request, Any], Awaitable[Any]]] = web.RequestKey(
    "kboot_body_filter", object)  # type: ignore[arg-type]
OBJECT_FILTER: web.RequestKey[Callable[[Any], Awaitable[Any]]] = web.RequestKey(
    "kboot_object_filter", object)  # type: ignore[arg-type]
OFFLOAD_YAML = 16 * 1024
OFFLOAD_JSON = 256 * 1024


@dataclass
class Decoded:
    value: Any
    duplicates: list[str] = field(default_factory=list)


def _json_pairs(dups: list[str]) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                dups.append(key)
            out[key] = value
        return out
    return hook


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _decode_json(raw: bytes) -> Decoded:
    dups: list[str] = []
    try:
        value = json.loads(raw, object_pairs_hook=_json_pairs(dups), parse_constant=_no_constant,
                           parse_float=_finite)
    except RecursionError:
        raise depth_error() from None
    if may_be_too_deep(raw):
        check_depth(value)
    return Decoded(value, dups)


def _decode_yaml(raw: bytes) -> Decoded:
    if raw.lstrip()[:1] == b"{":  # JSON is YAML, and the JSON decoder is ~100x faster
        try:
            return _decode_json(raw)
        except DecodeLimitError:
            raise
        except ValueError:
            pass  # flow-style YAML ({a: b}) or YAML-only scalars: the YAML decoder decides
    value, dups = yamlbody.load(raw)
    return Decoded(value, dups)


def decode(raw: bytes, content_type: str) -> Decoded:
    """Decode a body of the given media type; 400 on malformed input or a decode bound
    exceeded (:mod:`.decodelimits`), 413 over the size limit, 415 on unknown types."""
    media = content_type.split(";")[0].strip().lower() or "application/json"
    if len(raw) > MAX_BODY:
        raise too_large()
    if media in JSON_TYPES:
        try:
            return _decode_json(raw)
        except ValueError as err:
            raise bad_request(f"error decoding request body: {_short(err)}") from None
    if media == protobuf.MEDIA_TYPE:
        return Decoded(protobuf.decode_object(raw))
    if media in YAML_TYPES:
        try:
            return _decode_yaml(raw)
        except (yaml.YAMLError, ValueError, TypeError, RecursionError) as err:
            raise bad_request(f"error decoding YAML: {_short(err)}") from None
    raise unsupported_media(media)


def _short(err: BaseException) -> str:
    if isinstance(err, RecursionError):
        return str(depth_error())
    return str(err).splitlines()[0][:300]


def decode_object(raw: bytes, content_type: str) -> tuple[JsonObj, list[str]]:
    """Decode a body that must be one JSON object (create/update bodies)."""
    return _as_object(decode(raw, content_type))


def _as_object(decoded: Decoded) -> tuple[JsonObj, list[str]]:
    if not isinstance(decoded.value, dict):
        raise bad_request("the body of the request must be a JSON object")
    return decoded.value, decoded.duplicates


def _heavy(raw: bytes, media: str) -> bool:
    return len(raw) > (OFFLOAD_YAML if media in YAML_TYPES else OFFLOAD_JSON)


async def decode_body(app: web.Application, raw: bytes, content_type: str) -> Decoded:
    """:func:`decode`, off the event loop when the body is large enough to stall it
    (:mod:`.offload`: YAML in a worker process, JSON on a worker thread)."""
    decoders = app.get(DECODERS)
    media = content_type.split(";")[0].strip().lower()
    if decoders is None or not _heavy(raw, media) or len(raw) > MAX_BODY:
        return decode(raw, content_type)
    if media not in YAML_TYPES or raw.lstrip()[:1] == b"{":
        return await decoders.in_thread(decode, raw, content_type)
    outcome = await decoders.yaml(raw)
    if outcome.error:
        raise bad_request(f"error decoding YAML: {outcome.error}")
    return Decoded(json.loads(outcome.json), outcome.duplicates)


async def read_decoded(request: web.Request) -> Decoded:
    """Read and decode the request's body (see :func:`decode_body`)."""
    decoded = await decode_body(request.app, await request.read(), media_type(request))
    body_filter = request.get(BODY_FILTER)
    if body_filter is not None:
        return Decoded(await body_filter(request, decoded.value), decoded.duplicates)
    return decoded


async def read_object(request: web.Request, *, empty: JsonObj | None = None
                      ) -> tuple[JsonObj, list[str]]:
    """Read a body that must be one JSON object; ``empty`` (when given) stands for a blank body."""
    raw = await request.read()
    if empty is not None and not raw.strip():
        return empty, []
    return _as_object(await read_decoded(request))


def status_response(err: StatusError) -> web.Response:
    """An error as upstream writes it: the ``Status`` JSON, then a newline (Go's json.Encoder)."""
    return web.Response(body=err.encode(), status=err.code,
                        headers={**err.headers, "Content-Type": "application/json"})


def dumps(obj: Any) -> bytes:
    # ASCII-escaped: a lone surrogate in client input must never make the reply unencodable
    return json.dumps(obj, separators=(",", ":")).encode()


def json_response(obj: Any, status: int = 200, *, content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(obj), status=status,
                        headers={**(headers or {}), "Content-Type": content_type})


def _accept_items(accept: str) -> list[dict[str, str]]:
    items = []
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        params = {"media": fields[0].lower()}
        for f in fields[1:]:
            k, _, v = f.partition("=")
            params[k.strip().lower()] = v.strip()
        items.append(params)
    return items


def wants_table(accept: str) -> bool:
    """True when the client asked for ``meta.k8s.io`` Table output first."""
    for item in _accept_items(accept):
        if item.get("as") == "Table" and item.get("g") == "meta.k8s.io":
            return True
        if item["media"] in ("application/json", "*/*", "application/yaml"):
            return False
    return False


AGGREGATED_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_TYPE_BETA = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def aggregated_discovery_version(accept: str) -> str | None:
    """``v2``/``v2beta1`` when the client prefers aggregated discovery, else None."""
    for item in _accept_items(accept):
        if item.get("as") == "APIGroupDiscoveryList" and item.get("g") == "apidiscovery.k8s.io":
            if item.get("v") in ("v2", "v2beta1"):
                return item["v"]
            continue
        if item["media"] in ("application/json", "*/*"):
            return None
    return None


def media_type(request: web.Request) -> str:
    """The request body's media type; JSON when the client sent no Content-Type."""
    header = request.headers.get("Content-Type", "")
    return header.split(";")[0].strip().lower() or "application/json"
