"""Swagger 2.0 documents in gnostic's protobuf (``openapi_v2.Document``), what client-go reads.

client-go's ``OpenAPISchema()`` (behind kubectl's and Helm's client-side validation) requests
``/openapi/v2`` as ``application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and
``proto.Unmarshal``\\ s the body — JSON is not accepted.  This encoder writes the messages of
``github.com/google/gnostic-models/openapiv2/OpenAPIv2.proto`` that a definitions-only
document uses, with their field numbers: ``Document`` (swagger, info, paths, definitions),
``Info``, ``Schema`` (every keyword Kubernetes schemas carry), ``Properties``,
``AdditionalPropertiesItem``, ``ItemsItem``, ``TypeItem`` and ``NamedAny`` vendor extensions,
whose values are YAML text (``Any.yaml``) as gnostic writes them.  Unknown keywords are
skipped — they carry nothing the validators read.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import yaml

_VARINT, _FIXED64, _BYTES = 0, 1, 2


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _bytes(number: int, payload: bytes) -> bytes:
    return _key(number, _BYTES) + _varint(len(payload)) + payload


def _string(number: int, value: str) -> bytes:
    return _bytes(number, value.encode()) if value else b""


def _int(number: int, value: int) -> bytes:
    return _key(number, _VARINT) + _varint(int(value)) if value else b""


def _bool(number: int, value: bool) -> bytes:
    return _key(number, _VARINT) + b"\x01" if value else b""


def _double(number: int, value: float) -> bytes:
    return _key(number, _FIXED64) + struct.pack("<d", float(value))


def _any(number: int, value: Any) -> bytes:
    """``Any{yaml = 2}``: the value as YAML text."""
    text = yaml.safe_dump(value, default_flow_style=False, sort_keys=True)
    return _bytes(number, _string(2, text))


def _named_any(number: int, name: str, value: Any) -> bytes:
    return _bytes(number, _string(1, name) + _any(2, value))


_STRINGS = (("format", 2), ("title", 3), ("description", 4), ("pattern", 13),
            ("discriminator", 26))
_INTS = (("maxLength", 11), ("minLength", 12), ("maxItems", 14), ("minItems", 15),
         ("maxProperties", 17), ("minProperties", 18))
_DOUBLES = (("multipleOf", 6), ("maximum", 7), ("minimum", 9))
_BOOLS = (("exclusiveMaximum", 8), ("exclusiveMinimum", 10), ("uniqueItems", 16),
          ("readOnly", 27))


def encode_schema(schema: Mapping[str, Any]) -> bytes:
    """One ``openapi_v2.Schema`` message."""
    out = bytearray()
    if isinstance(schema.get("$ref"), str):
        out += _string(1, schema["$ref"])
    out += b"".join(_string(n, str(schema[k])) for k, n in _STRINGS if k in schema)
    if "default" in schema:
        out += _any(5, schema["default"])
    out += b"".join(_double(n, schema[k]) for k, n in _DOUBLES
                    if isinstance(schema.get(k), int | float))
    out += b"".join(_int(n, schema[k]) for k, n in _INTS if isinstance(schema.get(k), int))
    out += b"".join(_bool(n, bool(schema[k])) for k, n in _BOOLS if k in schema)
    out += b"".join(_string(19, str(r)) for r in schema.get("required") or ())
    out += b"".join(_any(20, e) for e in schema.get("enum") or ())
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        out += _bytes(21, _bytes(1, encode_schema(additional)))
    elif isinstance(additional, bool):
        out += _bytes(21, _key(2, _VARINT) + _varint(int(additional)))
    type_ = schema.get("type")
    if type_:
        values = type_ if isinstance(type_, list) else [type_]
        out += _bytes(22, b"".join(_string(1, str(v)) for v in values))
    if isinstance(schema.get("items"), dict):
        out += _bytes(23, _bytes(1, encode_schema(schema["items"])))
    out += b"".join(_bytes(24, encode_schema(s)) for s in schema.get("allOf") or ()
                    if isinstance(s, dict))
    properties = schema.get("properties")
    if isinstance(properties, dict) and properties:
        out += _bytes(25, b"".join(_bytes(1, _string(1, name) + _bytes(2, encode_schema(sub)))
                                   for name, sub in properties.items()
                                   if isinstance(sub, dict)))
    if "example" in schema:
        out += _any(30, schema["example"])
    out += b"".join(_named_any(31, k, v) for k, v in schema.items() if k.startswith("x-"))
    return bytes(out)


def encode_document(doc: Mapping[str, Any]) -> bytes:
    """An ``openapi_v2.Document`` with swagger, info, (empty) paths and definitions."""
    info = doc.get("info") or {}
    out = bytearray(_string(1, str(doc.get("swagger", "2.0"))))
    out += _bytes(2, _string(1, str(info.get("title", ""))) + _string(2, str(
        info.get("version", ""))))
    out += _bytes(8, b"")
    named = b"".join(_bytes(1, _string(1, name) + _bytes(2, encode_schema(schema)))
                     for name, schema in (doc.get("definitions") or {}).items())
    out += _bytes(9, named)
    return bytes(out)
