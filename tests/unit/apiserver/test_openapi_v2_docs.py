"""/openapi/v2 follows the run-time kind registry: a kind registered later is described (by
name, with its group-version-kind) in both the JSON and the protobuf document."""

from __future__ import annotations

import json

from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.apiserver import openapidocs
from kboot.controlplane.apiserver.kinds import KindRegistry
from kboot.controlplane.apiserver.strategy import SchemalessStrategy

WIDGETS = ResourceKind("example.com", "v1", "Widget", "widgets", True)


def test_v2_grows_with_the_registry() -> None:
    registry = KindRegistry.builtin()
    before_json, before_proto = openapidocs.v2(registry)
    assert b"com.example.v1.Widget" not in before_proto
    registry.register(SchemalessStrategy(WIDGETS))
    as_json, as_proto = openapidocs.v2(registry)
    doc = json.loads(as_json)
    widget = doc["definitions"]["com.example.v1.Widget"]
    assert widget["x-kubernetes-group-version-kind"] == [
        {"group": "example.com", "version": "v1", "kind": "Widget"}]
    assert widget["properties"]["metadata"] == {
        "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    assert doc["definitions"]["com.example.v1.WidgetList"]["properties"]["items"]["items"] == {
        "$ref": "#/definitions/com.example.v1.Widget"}
    assert b"com.example.v1.Widget" in as_proto and len(as_proto) > len(before_proto)
    registry.unregister("example.com", "widgets")
    assert openapidocs.v2(registry) == (before_json, before_proto)
