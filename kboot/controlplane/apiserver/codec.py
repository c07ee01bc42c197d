"""Request bodies in, response bodies out: JSON/YAML decoding and Accept negotiation.

kubectl sends JSON (YAML for some apply-patch bodies); strict field validation also needs the
*duplicate* keys of a body, which plain ``json.loads`` silently drops, so decoding records them.
Malformed input becomes a 400 ``Status`` here, never an exception further in. Accept headers
choose between plain objects, ``meta.k8s.io`` Tables and aggregated discovery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml
from aiohttp import web

from kboot.controlplane.apiserver import protobuf
from kboot.controlplane.apiserver.errors import ApiError, JsonObj, bad_request, unsupported_media

MAX_BODY = 3 * 1024 * 1024  # the HTTP request limit; the stored-object limit is 1.5 MiB

JSON_TYPES = ("application/json", "application/merge-patch+json", "application/json-patch+json",
              "application/strategic-merge-patch+json")
YAML_TYPES = ("application/yaml", "application/apply-patch+yaml", "application/x-yaml",
              "text/yaml")


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


class _DupLoader(yaml.SafeLoader):
    duplicates: list[str]


def _construct_mapping(loader: _DupLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise yaml.YAMLError("mapping keys must be scalars")
        if key in out:
            loader.duplicates.append(str(key))
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_DupLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def decode(raw: bytes, content_type: str) -> Decoded:
    """Decode a body of the given media type; 400 on malformed input, 415 on unknown types."""
    media = content_type.split(";")[0].strip().lower() or "application/json"
    if len(raw) > MAX_BODY:
        raise ApiError(413, "RequestEntityTooLarge", "Request entity too large")
    dups: list[str] = []
    if media in JSON_TYPES:
        try:
            return Decoded(json.loads(raw, object_pairs_hook=_json_pairs(dups)), dups)
        except (ValueError, RecursionError) as err:
            raise bad_request(f"error decoding request body: {_short(err)}") from None
    if media == protobuf.MEDIA_TYPE:
        return Decoded(protobuf.decode_object(raw))
    if media in YAML_TYPES:
        try:
            loader = _DupLoader(raw.decode("utf-8"))
            loader.duplicates = dups
            try:
                value = loader.get_single_data()
            finally:
                loader.dispose()
        except (yaml.YAMLError, UnicodeDecodeError, ValueError, TypeError,
                RecursionError) as err:
            raise bad_request(f"error decoding YAML: {_short(err)}") from None
        return Decoded(value, dups)
    raise unsupported_media(media)


def _short(err: Exception) -> str:
    return str(err).splitlines()[0][:300]


def decode_object(raw: bytes, content_type: str) -> tuple[JsonObj, list[str]]:
    """Decode a body that must be one JSON object (create/update bodies)."""
    decoded = decode(raw, content_type)
    if not isinstance(decoded.value, dict):
        raise bad_request("the body of the request must be a JSON object")
    return decoded.value, decoded.duplicates


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
