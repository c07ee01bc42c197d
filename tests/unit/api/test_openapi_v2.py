"""The /openapi/v2 document and its content negotiation (upstream kube-openapi's handler)."""

from __future__ import annotations

import pytest

from kboot.controlplane.api.openapi_v2 import (
    builtin_document_bytes,
    openapi_v2_document,
    wants_protobuf,
)
from kboot.controlplane.api.openapi_v2_proto import encode_schema
from kboot.controlplane.api.registry import KINDS

PB = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
PB_OLD = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


@pytest.mark.parametrize(("accept", "protobuf"), [
    (PB, True),
    (PB_OLD, True),
    (f"application/json, {PB}", False),
    (f"{PB}, application/json", True),
    (f"{PB}; q=0.5, application/json", False),
    (f"{PB_OLD}; q=0.5, application/json", False),
    ("application/json", False),
    ("", False),
    ("*/*", False),
])
def test_negotiation_matches_upstream_handler(accept: str, protobuf: bool) -> None:
    assert wants_protobuf(accept) is protobuf


def test_every_served_kind_has_a_definition_with_its_gvk() -> None:
    doc = openapi_v2_document()
    gvks = {(g["group"], g["version"], g["kind"]) for d in doc["definitions"].values()
            for g in d.get("x-kubernetes-group-version-kind", ())}
    assert all((rk.group, rk.version, rk.kind) in gvks for rk in KINDS)
    assert all(not r.startswith("io.") for r in _refs(doc))


def _refs(value: object) -> list[str]:
    if isinstance(value, dict):
        own = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return own + [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def test_extra_definitions_join_the_document() -> None:
    extra = {"com.example.v1.Gadget": {"type": "object", "x-kubernetes-group-version-kind": [
        {"group": "example.com", "version": "v1", "kind": "Gadget"}]}}
    assert "com.example.v1.Gadget" in openapi_v2_document(extra)["definitions"]
    assert "com.example.v1.Gadget" not in openapi_v2_document()["definitions"]


def test_protobuf_encoding_of_a_schema_is_the_wire_format() -> None:
    # Schema{type: TypeItem{value: ["string"]}} = field 22 (0xb2 0x01), len 8, field 1 "string"
    assert encode_schema({"type": "string"}) == b"\xb2\x01\x08\x0a\x06string"
    # description (field 4) and a required list (field 19, repeated string)
    assert encode_schema({"description": "d", "required": ["a"]}) == b"\x22\x01d\x9a\x01\x01a"
    as_json, as_proto = builtin_document_bytes()
    assert as_proto.startswith(b"\x0a\x032.0")
    assert len(as_proto) > 100_000 and as_json.startswith(b'{"swagger":"2.0"')
