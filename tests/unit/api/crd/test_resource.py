"""Custom resource writes and reads: pruning, defaulting, unknown-field reporting, metadata and
embedded resources, as upstream's custom resource handler does them."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kboot.controlplane.api.crd.defaulting import apply_defaults
from kboot.controlplane.api.crd.pruning import prune
from kboot.controlplane.api.crd.resource import ResourceSchema

SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "spec": {"type": "object", "properties": {
        "replicas": {"type": "integer", "default": 1, "minimum": 0},
        "mode": {"type": "string", "default": "fast", "enum": ["fast", "safe"]},
        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "required": ["name"], "properties": {
                      "name": {"type": "string"},
                      "protocol": {"type": "string", "default": "TCP"}}}},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                     "properties": {"spec": {"type": "object", "properties": {
                         "image": {"type": "string"}}}}},
        "limit": {"type": "integer", "nullable": True, "default": 5},
        "strict": {"type": "string"},
    }},
    "status": {"type": "object", "properties": {"ready": {"type": "integer"}}},
}}


def schema() -> ResourceSchema:
    return ResourceSchema(SCHEMA, kind="Widget", namespaced=True)


def widget(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "default"}, "spec": spec}


def test_unknown_fields_are_pruned_and_reported_per_field_validation() -> None:
    body = widget(replicas=2, junk=1, ports=[{"name": "http", "color": "red"}],
                  extra={"anything": {"goes": True}}, template={
                      "apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": "p", "bogus": 1}, "spec": {"image": "x", "no": 1}})
    body["metadata"]["surprise"] = "x"
    body["status"] = {"ready": 1, "phase": "Up"}
    for mode, strict, warned in (("Strict", True, False), ("Warn", False, True),
                                 ("Ignore", False, False)):
        result = schema().admit(copy.deepcopy(body), field_validation=mode)
        expected = ['unknown field "metadata.surprise"', 'unknown field "spec.junk"',
                    'unknown field "spec.ports[0].color"',
                    'unknown field "spec.template.metadata.bogus"',
                    'unknown field "spec.template.spec.no"', 'unknown field "status.phase"']
        assert sorted(result.strict_errors) == (expected if strict else [])
        assert sorted(result.warnings) == (expected if warned else [])
        assert result.errors == []
        obj = result.obj
        assert obj["spec"]["extra"] == {"anything": {"goes": True}}
        assert obj["spec"]["template"]["apiVersion"] == "v1"
        assert obj["spec"]["template"]["metadata"] == {"name": "p"}
        assert "junk" not in obj["spec"] and obj["status"] == {"ready": 1}


def test_defaults_apply_on_write_and_on_read() -> None:
    result = schema().admit(widget(ports=[{"name": "http"}], limit=None))
    spec = result.obj["spec"]
    assert spec["replicas"] == 1 and spec["mode"] == "fast"
    assert spec["ports"] == [{"name": "http", "protocol": "TCP"}]
    assert spec["limit"] is None   # nullable: an explicit null stays
    stored = widget(strict=None)
    schema().read(stored)
    assert stored["spec"] == {"replicas": 1, "mode": "fast", "limit": 5}  # null dropped


def test_validation_errors_carry_upstream_paths() -> None:
    body = widget(replicas=-1, mode="slow", labels={"a": 1},
                  ports=[{"name": "a"}, {"name": "a"}],
                  template={"kind": "Pod", "metadata": {"name": "a/b", "labels": {"x": "!"}}})
    body["metadata"]["name"] = "Bad_Name"
    found = [str(e) for e in schema().admit(body).errors]
    assert found == [
        "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must "
        "consist of lower case alphanumeric characters, '-' or '.', and must start and end with "
        "an alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or "
        "equal to 0",
        'spec.mode: Unsupported value: "slow": supported values: "fast", "safe"',
        'spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: '
        '"integer"',
        'spec.ports[1]: Duplicate value: {"name": "a"}',
        "spec.template.apiVersion: Required value: must not be empty",
        "spec.template.metadata.name: Invalid value: \"a/b\": may not contain '/'",
        'spec.template.metadata.labels[x]: Invalid value: "!": a valid label must be an empty '
        "string or consist of alphanumeric characters, '-', '_' or '.', and must start and end "
        "with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex "
        "used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
    ]


def test_schema_constraints_on_metadata_name() -> None:
    constrained = {**SCHEMA, "properties": {**SCHEMA["properties"], "metadata": {
        "type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}}}}
    rs = ResourceSchema(constrained, kind="Widget", namespaced=True)
    assert [str(e) for e in rs.admit(widget()).errors] == []
    body = widget()
    body["metadata"]["name"] = "toolong"
    assert [str(e) for e in rs.admit(body).errors] == [
        "metadata.name: Too long: may not be more than 3 bytes"]


def test_cluster_scoped_resources_refuse_a_namespace() -> None:
    rs = ResourceSchema(SCHEMA, kind="Widget", namespaced=False)
    assert [str(e) for e in rs.admit(widget()).errors] == [
        "metadata.namespace: Forbidden: not allowed on this type"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["replicas", "mode", "ports", "extra", "junk", "name", "protocol", "x"]), inner,
        max_size=4), max_leaves=12)


@given(st.dictionaries(st.sampled_from(["spec", "status", "junk"]), json_values, max_size=3))
def test_pruning_and_defaulting_are_idempotent(body: dict[str, Any]) -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, **body}
    prune(obj, SCHEMA)
    apply_defaults(obj, SCHEMA)
    once = json.dumps(obj, sort_keys=True)
    assert prune(obj, SCHEMA) == []
    apply_defaults(obj, SCHEMA)
    assert json.dumps(obj, sort_keys=True) == once
    assert set(obj) <= {"apiVersion", "kind", "metadata", "spec", "status"}
    if isinstance(obj.get("spec"), dict):
        assert set(obj["spec"]) <= set(SCHEMA["properties"]["spec"]["properties"])


def test_type_meta_and_scale_paths_as_upstream_validator() -> None:
    scale = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.ready",
             "labelSelectorPath": ".status.selector"}
    rs = ResourceSchema(SCHEMA, kind="Widget", namespaced=True, api_version="example.com/v1",
                        scale=scale)
    wrong = widget()
    wrong["apiVersion"], wrong["kind"] = "example.com/v2", "Gadget"
    assert [str(e) for e in rs.admit(wrong).errors] == [
        'kind: Invalid value: "Gadget": must be Widget',
        'apiVersion: Invalid value: "example.com/v2": must be example.com/v1']
    body = widget(replicas=-2)
    body["status"] = {"ready": 2**31}
    found = [str(e) for e in rs.admit(body).errors]
    assert ".spec.replicas: Invalid value: -2: should be a non-negative integer" in found
    assert ".status.ready: Invalid value: 2147483648: should be less than or equal to " \
           "2147483647" in found


def test_unknown_fields_leaves_the_object_alone() -> None:
    from kboot.controlplane.api.crd.pruning import unknown_fields
    body = widget(junk=1)
    assert unknown_fields(body, SCHEMA) == ["spec.junk"]
    assert body["spec"] == {"junk": 1}
