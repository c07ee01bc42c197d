"""Custom resource values against openAPIV3Schema: upstream's field paths and messages
(kube-openapi's validators as apiextensions-apiserver converts them to field errors)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kboot.controlplane.api.crd.values import validate_value

SPEC = "spec.x"


def errors(schema: dict[str, Any], value: Any) -> list[str]:
    return [str(e) for e in validate_value({"type": "object", "properties": {"spec": {
        "type": "object", "properties": {"x": schema}}}}, {"spec": {"x": value}})]


@pytest.mark.parametrize(("schema", "value", "expected"), [
    ({"type": "integer"}, "string",
     'spec.x: Invalid value: "string": spec.x in body must be of type integer: "string"'),
    ({"type": "integer"}, 1.5,
     'spec.x: Invalid value: "number": spec.x in body must be of type integer: "number"'),
    ({"type": "string"}, 3,
     'spec.x: Invalid value: "integer": spec.x in body must be of type string: "integer"'),
    ({"type": "object"}, [],
     'spec.x: Invalid value: "array": spec.x in body must be of type object: "array"'),
    ({"type": "boolean"}, "true",
     'spec.x: Invalid value: "string": spec.x in body must be of type boolean: "string"'),
    ({"type": "string"}, None,
     'spec.x: Invalid value: "null": spec.x in body must be of type string: "null"'),
    ({"x-kubernetes-int-or-string": True}, True,
     'spec.x: Invalid value: "boolean": spec.x in body must be of type integer,string: '
     '"boolean"'),
    ({"type": "string", "enum": ["a", "b"]}, "c",
     'spec.x: Unsupported value: "c": supported values: "a", "b"'),
    ({"type": "integer", "enum": [1, 2]}, 3,
     'spec.x: Unsupported value: 3: supported values: "1", "2"'),
    ({"type": "string", "pattern": "^[a-z]+$"}, "A1",
     "spec.x: Invalid value: \"A1\": spec.x in body should match '^[a-z]+$'"),
    ({"type": "integer", "maximum": 10}, 11,
     "spec.x: Invalid value: 11: spec.x in body should be less than or equal to 10"),
    ({"type": "integer", "maximum": 10, "exclusiveMaximum": True}, 10,
     "spec.x: Invalid value: 10: spec.x in body should be less than 10"),
    ({"type": "number", "minimum": 0.5}, 0.25,
     "spec.x: Invalid value: 0.25: spec.x in body should be greater than or equal to 0.5"),
    ({"type": "integer", "minimum": 1, "exclusiveMinimum": True}, 1,
     "spec.x: Invalid value: 1: spec.x in body should be greater than 1"),
    ({"type": "integer", "multipleOf": 3}, 7,
     "spec.x: Invalid value: 7: spec.x in body should be a multiple of 3"),
    ({"type": "string", "maxLength": 3}, "abcd",
     "spec.x: Too long: may not be more than 3 bytes"),
    ({"type": "string", "minLength": 2}, "a",
     'spec.x: Invalid value: "a": spec.x in body should be at least 2 chars long'),
    ({"type": "array", "items": {"type": "string"}, "minItems": 2}, ["a"],
     "spec.x: Invalid value: 1: spec.x in body should have at least 2 items"),
    ({"type": "array", "items": {"type": "string"}, "maxItems": 1}, ["a", "b"],
     "spec.x: Too many: 2: must have at most 1 items"),
    ({"type": "array", "items": {"type": "integer"}, "uniqueItems": True}, [1, 1],
     'spec.x: Invalid value: "": spec.x in body shouldn\'t contain duplicates'),
    ({"type": "object", "minProperties": 2}, {"a": 1},
     "spec.x: Invalid value: 1: spec.x in body should have at least 2 properties"),
    ({"type": "object", "maxProperties": 1}, {"a": 1, "b": 2},
     "spec.x: Too many: 2: must have at most 1 items"),
    ({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}, {},
     "spec.x.name: Required value"),
    ({"type": "array", "items": {"type": "integer"}}, [1, "two"],
     'spec.x[1]: Invalid value: "string": spec.x[1] in body must be of type integer: "string"'),
    ({"type": "object", "additionalProperties": {"type": "integer"}}, {"k": "v"},
     'spec.x.k: Invalid value: "string": spec.x.k in body must be of type integer: "string"'),
    ({"type": "string", "format": "ipv4"}, "300.1.1.1",
     'spec.x: Invalid value: "300.1.1.1": spec.x in body must be of type ipv4: "300.1.1.1"'),
    ({"type": "string", "format": "date-time"}, "yesterday",
     'spec.x: Invalid value: "yesterday": spec.x in body must be of type date-time: '
     '"yesterday"'),
    ({"type": "string", "format": "uuid"}, "nope",
     'spec.x: Invalid value: "nope": spec.x in body must be of type uuid: "nope"'),
])
def test_messages_match_upstream(schema: dict[str, Any], value: Any, expected: str) -> None:
    assert errors(schema, value) == [expected]


@pytest.mark.parametrize(("schema", "value"), [
    ({"type": "integer"}, 3.0),                       # a whole float is an integer (JSON)
    ({"type": "number"}, 3),
    ({"type": "string", "nullable": True}, None),
    ({"x-kubernetes-int-or-string": True}, 3),
    ({"x-kubernetes-int-or-string": True}, "50%"),
    ({"type": "string", "format": "password"}, "anything"),   # formats upstream ignores
    ({"type": "string", "format": "int32"}, "x"),
    ({"type": "string", "format": "date"}, "2024-02-29"),
    ({"type": "string", "format": "cidr"}, "10.0.0.0/8"),
    ({"type": "string", "format": "byte"}, "aGVsbG8="),
    ({"type": "string", "format": "duration"}, "1h30m"),
    ({"type": "object", "x-kubernetes-preserve-unknown-fields": True}, {"any": {"thing": 1}}),
    ({"type": "number", "multipleOf": 0.1}, 0.3),
])
def test_valid_values_pass(schema: dict[str, Any], value: Any) -> None:
    assert errors(schema, value) == []


def test_composites_report_at_the_root_with_the_quoted_path() -> None:
    any_of = {"type": "string", "anyOf": [{"pattern": "^a"}, {"pattern": "^b"}]}
    found = errors(any_of, "c")
    assert found[0] == 'Invalid value: "": "spec.x" must validate at least one schema (anyOf)'
    assert len(found) == 2 and "should match" in found[1]
    one_of = {"type": "integer", "oneOf": [{"minimum": 0}, {"maximum": 10}]}
    assert errors(one_of, 5) == ['Invalid value: "": "spec.x" must validate one and only one '
                                 'schema (oneOf). Found 2 valid alternatives']
    assert errors(one_of, -1) == []
    negated = {"type": "string", "not": {"enum": ["x"]}}
    assert errors(negated, "x") == ['Invalid value: "": "spec.x" must not validate the schema '
                                    '(not)']
    all_of = {"type": "integer", "allOf": [{"minimum": 2}, {"maximum": 5}]}
    assert errors(all_of, 9) == [
        "spec.x: Invalid value: 9: spec.x in body should be less than or equal to 5",
        'Invalid value: "": "spec.x" must validate all the schemas (allOf)']


def test_list_types_reject_duplicates_at_the_item() -> None:
    as_set = {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}
    assert errors(as_set, ["a", "b", "a"]) == ['spec.x[2]: Duplicate value: "a"']
    as_map = {"type": "array", "x-kubernetes-list-type": "map",
              "x-kubernetes-list-map-keys": ["name", "proto"],
              "items": {"type": "object", "required": ["name"], "properties": {
                  "name": {"type": "string"},
                  "proto": {"type": "string", "default": "TCP"}}}}
    assert errors(as_map, [{"name": "a"}, {"name": "a", "proto": "UDP"}]) == []
    assert errors(as_map, [{"name": "a"}, {"name": "a", "proto": "TCP"}]) == [
        'spec.x[1]: Duplicate value: {"name": "a", "proto": "TCP"}']
    assert 'spec.x[1]: Invalid value: "b": must be an object for an array of list-type map' \
        in errors(as_map, [{"name": "a"}, "b"])
    atomic = {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "atomic"}
    assert errors(atomic, ["a", "a"]) == []


@given(st.integers(min_value=-1000, max_value=1000), st.integers(min_value=-50, max_value=50),
       st.integers(min_value=0, max_value=100))
def test_range_checks_agree_with_arithmetic(value: int, low: int, width: int) -> None:
    schema = {"type": "integer", "minimum": low, "maximum": low + width}
    found = errors(schema, value)
    assert (found == []) == (low <= value <= low + width)
    assert len(found) <= 1


@given(st.text(max_size=12), st.integers(min_value=0, max_value=8),
       st.integers(min_value=0, max_value=8))
def test_length_checks_count_characters(text: str, low: int, high: int) -> None:
    found = errors({"type": "string", "minLength": low, "maxLength": high}, text)
    expected = int(len(text) > high) + int(len(text) < low)
    assert len(found) == expected


@given(st.lists(st.integers(min_value=0, max_value=5), max_size=8))
def test_set_duplicates_are_each_repeat(items: list[int]) -> None:
    schema = {"type": "array", "items": {"type": "integer"}, "x-kubernetes-list-type": "set"}
    assert len(errors(schema, items)) == len(items) - len(set(items))
