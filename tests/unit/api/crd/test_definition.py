"""CustomResourceDefinition validation: upstream's paths and messages, structural-schema rules,
defaults, list types, subresources, printer columns and conversion."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kboot.controlplane.api.crd.definition import validate_crd, validate_crd_update

SCHEMA = "spec.versions[0].schema.openAPIV3Schema"


def crd(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                           "listKind": "WidgetList", "shortNames": ["wd"],
                           "categories": ["all"]},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "properties": {
                                       "replicas": {"type": "integer", "default": 1}}},
                                   "status": {"type": "object",
                                              "x-kubernetes-preserve-unknown-fields": True}}}},
                               "subresources": {"status": {}, "scale": {
                                   "specReplicasPath": ".spec.replicas",
                                   "statusReplicasPath": ".status.replicas"}},
                               "additionalPrinterColumns": [
                                   {"name": "Replicas", "type": "integer",
                                    "jsonPath": ".spec.replicas"}]}]}}
    for path, value in changes.items():
        node = body
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        if isinstance(node, list):
            node[int(keys[-1])] = value
        else:
            node[keys[-1]] = value
    return body


def messages(body: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate_crd(body)]


def with_schema(schema: dict[str, Any]) -> list[str]:
    body = crd()
    body["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = schema
    body["spec"]["versions"][0].pop("subresources")
    return messages(body)


def test_a_good_crd_passes() -> None:
    assert messages(crd()) == []


@pytest.mark.parametrize(("changes", "expected"), [
    ({"metadata__name": "gadgets.example.com"},
     'metadata.name: Invalid value: "gadgets.example.com": must be '
     'spec.names.plural+"."+spec.group'),
    ({"spec__group": "example", "metadata__name": "widgets.example"},
     'spec.group: Invalid value: "example": should be a domain with at least one dot'),
    ({"spec__scope": "Global"},
     'spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"'),
    ({"spec__names__kind": "Wid get"},
     'spec.names.kind: Invalid value: "Wid get": may have mixed case, but should otherwise '
     "match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
     "start with an alphabetic character, and end with an alphanumeric character (e.g. "
     "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"),
    ({"spec__names__listKind": "Widget"},
     'spec.names.listKind: Invalid value: "Widget": kind and listKind may not be the same'),
    ({"spec__names__singular": ""}, "spec.names.singular: Required value"),
    ({"spec__versions__0__storage": False},
     'spec.versions: Invalid value: ["v1"]: must have exactly one version marked as storage '
     "version"),
    ({"spec__conversion": {"strategy": "Webhook"}},
     "spec.conversion.webhook: Required value: required when strategy is set to Webhook"),
    ({"spec__conversion": {"strategy": "Magic"}},
     'spec.conversion.strategy: Unsupported value: "Magic": supported values: "None", '
     '"Webhook"'),
])
def test_crd_fields(changes: dict[str, Any], expected: str) -> None:
    assert expected in messages(crd(**changes))


def test_versions_unique_and_schema_required() -> None:
    body = crd()
    second = copy.deepcopy(body["spec"]["versions"][0])
    second["storage"] = False
    second.pop("schema")
    body["spec"]["versions"].append(second)
    found = messages(body)
    assert 'spec.versions: Invalid value: ["v1", "v1"]: must contain unique version names' in found
    assert "spec.versions[1].schema.openAPIV3Schema: Required value" in found


def test_identical_per_version_subresources_are_refused() -> None:
    body = crd()
    second = copy.deepcopy(body["spec"]["versions"][0])
    second.update(name="v2", storage=False)
    second["schema"]["openAPIV3Schema"]["properties"]["extra"] = {"type": "string"}
    second["additionalPrinterColumns"] = []
    body["spec"]["versions"].append(second)
    found = messages(body)
    assert any("per-version subresources may not all be set to identical values" in m
               for m in found)


@pytest.mark.parametrize(("schema", "expected"), [
    ({"type": "object", "properties": {"spec": {"properties": {}}}},
     f"{SCHEMA}.properties[spec].type: Required value: must not be empty for specified object "
     "fields"),
    ({"properties": {"spec": {"type": "object"}}},
     f"{SCHEMA}.type: Required value: must not be empty at the root"),
    ({"type": "string"}, f'{SCHEMA}.type: Invalid value: "string": must be object at the root'),
    ({"type": "object", "properties": {"a": {"type": "array"}}},
     f"{SCHEMA}.properties[a].items: Required value: must be specified"),
    ({"type": "object", "properties": {"a": {"type": "array", "items": {}}}},
     f"{SCHEMA}.properties[a].items.type: Required value: must not be empty for specified "
     "array items"),
    ({"type": "object", "properties": {"a": {"type": "string",
                                             "anyOf": [{"type": "string"}]}}},
     f"{SCHEMA}.properties[a].anyOf[0].type: Forbidden: must be empty to be structural"),
    ({"type": "object", "properties": {"a": {"type": "object",
                                             "allOf": [{"properties": {"b": {}}}]}}},
     f"{SCHEMA}.properties[a].properties[b]: Required value: because it is defined in "
     f"{SCHEMA}.properties[a].allOf[0].properties[b]"),
    ({"type": "object", "properties": {"a": {"type": "string", "oneOf": [
        {"description": "no"}]}}},
     f"{SCHEMA}.properties[a].oneOf[0].description: Forbidden: must be empty to be structural"),
    ({"type": "object", "additionalProperties": {"type": "string"}},
     f"{SCHEMA}.additionalProperties: Forbidden: must not be used at the root"),
    ({"type": "object", "properties": {"metadata": {"type": "object", "properties": {
        "labels": {"type": "object"}}}}},
     f"{SCHEMA}.properties[metadata]: Forbidden: must not specify anything other than name and "
     "generateName, but metadata is implicitly specified"),
    ({"type": "object", "properties": {"a": {"type": "null"}}},
     f"{SCHEMA}.properties[a].type: Forbidden: type cannot be set to null, use nullable as an "
     "alternative"),
    ({"type": "object", "properties": {"a": {"$ref": "#/definitions/x"}}},
     f"{SCHEMA}.properties[a].$ref: Forbidden: $ref is not supported"),
    ({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"},
                                             "uniqueItems": True}}},
     f"{SCHEMA}.properties[a].uniqueItems: Forbidden: uniqueItems cannot be set to true since "
     "the runtime complexity becomes quadratic"),
    ({"type": "object", "properties": {"a": {"type": "object", "properties": {
        "b": {"type": "string"}}, "additionalProperties": {"type": "string"}}}},
     f"{SCHEMA}.properties[a].additionalProperties: Forbidden: additionalProperties and "
     "properties are mutual exclusive"),
    ({"type": "object", "properties": {"a": {"type": "string",
                                             "x-kubernetes-list-type": "set"}}},
     f'{SCHEMA}.properties[a].type: Invalid value: "string": must be array if '
     "x-kubernetes-list-type is specified"),
    ({"type": "object", "properties": {"a": {"type": "array", "x-kubernetes-list-type": "map",
                                             "items": {"type": "object", "properties": {
                                                 "k": {"type": "string"}}}}}},
     f"{SCHEMA}.properties[a].x-kubernetes-list-map-keys: Required value: must not be empty if "
     "x-kubernetes-list-type is map"),
    ({"type": "object", "properties": {"a": {"type": "array", "x-kubernetes-list-type": "map",
                                             "x-kubernetes-list-map-keys": ["k"],
                                             "items": {"type": "object", "properties": {
                                                 "k": {"type": "string"}}}}}},
     f"{SCHEMA}.properties[a].items.properties[k].default: Required value: this property is in "
     "x-kubernetes-list-map-keys, so it must have a default or be a required property"),
    ({"type": "object", "properties": {"a": {"type": "object",
                                             "x-kubernetes-map-type": "sometimes"}}},
     f'{SCHEMA}.properties[a].x-kubernetes-map-type: Unsupported value: "sometimes": supported '
     'values: "atomic", "granular"'),
    ({"type": "object", "properties": {"a": {"type": "object",
                                             "x-kubernetes-embedded-resource": True}}},
     f"{SCHEMA}.properties[a].properties: Required value: must not be empty if "
     "x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"),
    ({"type": "object", "properties": {"a": {"x-kubernetes-int-or-string": True,
                                             "x-kubernetes-preserve-unknown-fields": True}}},
     f"{SCHEMA}.properties[a].x-kubernetes-preserve-unknown-fields: Invalid value: true: must "
     "be false if x-kubernetes-int-or-string is true"),
    ({"type": "object", "properties": {"a": {"type": "integer", "default": "x"}}},
     f'{SCHEMA}.properties[a].default: Invalid value: "x": must validate: Invalid value: '
     '"string": . in body must be of type integer: "string"'),
    ({"type": "object", "properties": {"a": {"type": "object", "default": {"b": 1},
                                             "properties": {"c": {"type": "integer"}}}}},
     f'{SCHEMA}.properties[a].default: Invalid value: {{"b": 1}}: must not have unknown fields'),
    ({"type": "object", "properties": {"a": {"type": "string", "x-kubernetes-validations": [
        {"rule": "self.size() > 1", "reason": "Bogus"}]}}},
     f'{SCHEMA}.properties[a].x-kubernetes-validations[0].reason: Unsupported value: "Bogus": '
     'supported values: "FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", '
     '"FieldValueRequired"'),
])
def test_structural_rules(schema: dict[str, Any], expected: str) -> None:
    assert expected in with_schema(schema)


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"a": {"x-kubernetes-int-or-string": True,
                                            "anyOf": [{"type": "integer"},
                                                      {"type": "string"}]}}},
    {"type": "object", "properties": {"a": {"type": "object",
                                            "x-kubernetes-preserve-unknown-fields": True}}},
    {"type": "object", "properties": {"metadata": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 10}}}}},
    {"type": "object", "properties": {"a": {"type": "array", "x-kubernetes-list-type": "map",
                                            "x-kubernetes-list-map-keys": ["k"],
                                            "items": {"type": "object", "required": ["k"],
                                                      "properties": {
                                                          "k": {"type": "string"}}}}}},
    {"type": "object", "properties": {"a": {"type": "object", "properties": {
        "x": {"type": "integer", "minimum": 0}}, "anyOf": [{"required": ["x"]}],
        "x-kubernetes-validations": [{"rule": "self.x >= 0", "message": "negative"}]}}},
    {"type": "object", "properties": {"tpl": {"type": "object",
                                              "x-kubernetes-embedded-resource": True,
                                              "x-kubernetes-preserve-unknown-fields": True}}},
])
def test_structural_schemas_pass(schema: dict[str, Any]) -> None:
    assert with_schema(schema) == []


@pytest.mark.parametrize(("column", "expected"), [
    ({"name": "A", "type": "money", "jsonPath": ".spec.a"},
     'additionalPrinterColumns[0].type: Invalid value: "money": must be one of '
     "boolean,date,integer,number,string"),
    ({"name": "A", "type": "string", "jsonPath": "spec.a"},
     'additionalPrinterColumns[0].jsonPath: Invalid value: "spec.a": must be a simple json path '
     "starting with ."),
    ({"name": "A", "type": "string", "format": "ip", "jsonPath": ".spec.a"},
     'additionalPrinterColumns[0].format: Invalid value: "ip": must be one of '
     "byte,date,date-time,double,float,int32,int64,name,password"),
    ({"type": "string", "jsonPath": ".spec.a"}, "additionalPrinterColumns[0].name: Required"),
])
def test_printer_columns(column: dict[str, Any], expected: str) -> None:
    found = messages(crd(spec__versions__0__additionalPrinterColumns=[column]))
    assert any(m.startswith("spec.versions[0]." + expected) for m in found), found


def test_scale_paths() -> None:
    body = crd()
    body["spec"]["versions"][0]["subresources"]["scale"] = {
        "specReplicasPath": ".status.replicas", "statusReplicasPath": ".spec.x",
        "labelSelectorPath": ".metadata.labels"}
    found = messages(body)
    base = "spec.versions[0].subresources.scale"
    assert f'{base}.specReplicasPath: Invalid value: ".status.replicas": should be a json path ' \
           "under .spec" in found
    assert f'{base}.statusReplicasPath: Invalid value: ".spec.x": should be a json path under ' \
           ".status" in found
    assert f'{base}.labelSelectorPath: Invalid value: ".metadata.labels": should be a json path ' \
           "under either .spec or .status" in found


def test_cel_rules_compile_or_the_crd_is_refused_naming_the_rule() -> None:
    bad = {"type": "object", "properties": {"a": {"type": "string", "x-kubernetes-validations": [
        {"rule": "self.size() >"}]}}}
    found = with_schema(bad)
    assert len(found) == 1
    assert found[0].startswith(f"{SCHEMA}.properties[a].x-kubernetes-validations[0].rule: "
                               "Invalid value: ")
    assert "compilation failed" in found[0]
    unsupported = {"type": "object", "properties": {"a": {"type": "string",
                                                          "x-kubernetes-validations": [
        {"rule": "url(self).getHost() == 'x' && self.format([1]) == ''"}]}}}
    found = with_schema(unsupported)
    assert len(found) == 1
    assert "function 'url' is not supported by kboot's CEL evaluator" in found[0]
    assert "function 'getHost' is not supported" in found[0]
    assert "function 'format' is not supported" in found[0]


def test_transition_rules_under_atomic_lists_are_refused() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "array", "items": {
        "type": "object", "properties": {"b": {"type": "string"}},
        "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}}}}
    found = with_schema(schema)
    assert any("oldSelf cannot be used on the uncorrelatable portion of the schema" in m
               for m in found)


def test_updates_keep_group_scope_and_stored_versions() -> None:
    old = crd()
    old["status"] = {"storedVersions": ["v1"], "conditions": [
        {"type": "Established", "status": "True"}]}
    new = copy.deepcopy(old)
    new["spec"]["scope"] = "Cluster"
    new["spec"]["versions"][0]["name"] = "v2"
    found = [str(e) for e in validate_crd_update(new, old)]
    assert 'spec.scope: Invalid value: "Cluster": field is immutable' in found
    assert any(m.startswith('status.storedVersions[0]: Invalid value: "v1": missing from '
                            "spec.versions") for m in found)
