"""x-kubernetes-validations: Kubernetes-style rules evaluated as upstream 1.32 reports them."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.api.crd.cel import compile_rules, evaluate


def check(schema: dict[str, Any], value: Any, old: Any = None, *,
          has_old: bool = False) -> list[str]:
    tree, errors = compile_rules(schema, "openAPIV3Schema")
    assert errors == []
    return [str(e) for e in evaluate(tree, schema, value, old, has_old=has_old)]


def spec_with(rules: list[dict[str, Any]], **props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {"spec": {
        "type": "object", "x-kubernetes-validations": rules,
        "properties": props or {"replicas": {"type": "integer"},
                                "minReplicas": {"type": "integer"}}}}}


@pytest.mark.parametrize(("rule", "value", "ok"), [
    ("self.minReplicas <= self.replicas", {"minReplicas": 1, "replicas": 3}, True),
    ("self.minReplicas <= self.replicas", {"minReplicas": 4, "replicas": 3}, False),
    ("has(self.replicas)", {}, False),
    ("!has(self.replicas) || self.replicas > 0", {}, True),
    ("self.tags.all(t, t.size() < 10)", {"tags": ["a", "bb"]}, True),
    ("self.tags.exists(t, t == 'x')", {"tags": ["a"]}, False),
    ("self.tags.exists_one(t, t.startsWith('a'))", {"tags": ["ab", "b"]}, True),
    ("self.tags.map(t, t.upperAscii()) == ['A']", {"tags": ["a"]}, True),
    ("self.tags.filter(t, t.endsWith('z')).size() == 0", {"tags": ["a"]}, True),
    ("self.name.matches('^[a-z]+$')", {"name": "abc"}, True),
    ("self.name.lowerAscii() == 'abc'", {"name": "ABC"}, True),
    ("self.name.split('-').size() == 2", {"name": "a-b"}, True),
    ("self.name.indexOf('b') == 1 && self.name.charAt(0) == 'a'", {"name": "abc"}, True),
    ("self.name.substring(1, 2) == 'b' && self.name.replace('a', 'z') == 'zbc'",
     {"name": "abc"}, True),
    ("self.name.trim() == 'a'", {"name": " a "}, True),
    ("self.tags.join(',') == 'a,b'", {"tags": ["a", "b"]}, True),
    ("self.counts.isSorted() && self.counts.sum() == 6 && self.counts.max() == 3",
     {"counts": [1, 2, 3]}, True),
    ("'key' in self.labels", {"labels": {"key": "v"}}, True),
    ("self.ratio > 0.5", {"ratio": 1}, True),   # a declared number is a double, even if 1
    ("duration(self.timeout) < duration('1h')", {"timeout": "30m"}, True),
    ("self.name.find('[0-9]+') == '42'", {"name": "ab42c"}, True),
])
def test_kubernetes_style_rules(rule: str, value: dict[str, Any], ok: bool) -> None:
    schema = spec_with([{"rule": rule}], replicas={"type": "integer"},
                       minReplicas={"type": "integer"}, name={"type": "string"},
                       ratio={"type": "number"}, timeout={"type": "string"},
                       tags={"type": "array", "items": {"type": "string"}},
                       counts={"type": "array", "items": {"type": "integer"}},
                       labels={"type": "object", "additionalProperties": {"type": "string"}})
    found = check(schema, {"spec": value})
    assert (found == []) == ok, found
    if not ok:
        assert found == [f'spec: Invalid value: "object": failed rule: {rule}']


def test_message_reason_field_path_and_message_expression() -> None:
    schema = spec_with([
        {"rule": "self.minReplicas <= self.replicas", "message": "min above replicas"},
        {"rule": "self.replicas < 10", "reason": "FieldValueForbidden", "fieldPath": ".replicas",
         "messageExpression": "'replicas ' + string(self.replicas) + ' is too many'"},
        {"rule": "self.replicas != 12", "reason": "FieldValueRequired", "message": "not 12"},
        {"rule": "self.replicas != 12", "reason": "FieldValueDuplicate"},
    ])
    assert check(schema, {"spec": {"minReplicas": 20, "replicas": 12}}) == [
        'spec: Invalid value: "object": min above replicas',
        "spec.replicas: Forbidden: replicas 12 is too many",
        "spec: Required value: not 12",
        'spec: Duplicate value: "object"',
    ]


def test_evaluation_errors_name_the_rule() -> None:
    schema = spec_with([{"rule": "self.replicas > 0"}])
    assert check(schema, {"spec": {}}) == [
        'spec: Invalid value: "object": no such key: replicas evaluating rule: '
        "self.replicas > 0"]


def test_rules_on_scalars_lists_and_map_values() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "name": {"type": "string", "x-kubernetes-validations": [
            {"rule": "self.size() <= 3", "message": "short names only"}]},
        "items": {"type": "array", "items": {"type": "integer", "x-kubernetes-validations": [
            {"rule": "self >= 0"}]}},
        "env": {"type": "object", "additionalProperties": {
            "type": "string", "x-kubernetes-validations": [{"rule": "self != ''"}]}},
    }}}}
    assert check(schema, {"spec": {"name": "long", "items": [1, -2], "env": {"A": ""}}}) == [
        'spec.name: Invalid value: "string": short names only',
        'spec.items[1]: Invalid value: "integer": failed rule: self >= 0',
        "spec.env.A: Invalid value: \"string\": failed rule: self != ''",
    ]


def test_transition_rules_run_on_update_only() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "mode": {"type": "string", "x-kubernetes-validations": [
            {"rule": "self == oldSelf", "message": "mode is immutable"}]},
        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "properties": {
                      "name": {"type": "string"},
                      "port": {"type": "integer", "x-kubernetes-validations": [
                          {"rule": "self >= oldSelf", "message": "ports only grow"}]}}}},
    }}}}
    new = {"spec": {"mode": "b", "ports": [{"name": "a", "port": 1}, {"name": "n", "port": 1}]}}
    assert check(schema, new) == []            # create: no old object
    old = {"spec": {"mode": "a", "ports": [{"name": "a", "port": 5}]}}
    assert check(schema, new, old, has_old=True) == [
        'spec.mode: Invalid value: "string": mode is immutable',
        'spec.ports[0].port: Invalid value: "integer": ports only grow',
    ]
    same = {"spec": {"mode": "a"}}
    assert check(schema, same, {"spec": {}}, has_old=True) == []   # old had no mode


def test_optional_old_self_is_refused_with_a_clear_message() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string",
                                                     "x-kubernetes-validations": [
        {"rule": "self == oldSelf", "optionalOldSelf": True}]}}}
    _, errors = compile_rules(schema, "s")
    assert [str(e) for e in errors] == [
        "s.properties[a].x-kubernetes-validations[0].optionalOldSelf: Invalid value: true: "
        "optionalOldSelf needs CEL optional types, which kboot's CEL evaluator does not support"]


def test_formatted_strings_are_typed_for_rules() -> None:
    schema = spec_with(
        [{"rule": "self.expiry > timestamp('2025-01-01T00:00:00Z')", "message": "expired"},
         {"rule": "self.every < duration('1h')", "message": "too slow"},
         {"rule": "self.since.getFullYear() >= 2020", "message": "too old"},
         {"rule": "size(self.blob) == 5", "message": "five bytes"}],
        expiry={"type": "string", "format": "date-time"},
        every={"type": "string", "format": "duration"},
        since={"type": "string", "format": "date"},
        blob={"type": "string", "format": "byte"})
    good = {"expiry": "2026-03-01T10:00:00Z", "every": "30m", "since": "2021-05-04",
            "blob": "aGVsbG8="}
    assert check(schema, {"spec": good}) == []
    bad = {"expiry": "2024-03-01T10:00:00+02:00", "every": "1h30m", "since": "2019-01-01",
           "blob": "aGk="}
    assert check(schema, {"spec": bad}) == [
        'spec: Invalid value: "object": expired', 'spec: Invalid value: "object": too slow',
        'spec: Invalid value: "object": too old', 'spec: Invalid value: "object": five bytes']


@pytest.mark.parametrize(("rule", "ok"), [
    ("quantity(self.memory).isGreaterThan(quantity('1Gi'))", True),
    ("quantity(self.memory).isLessThan(quantity('1Gi'))", False),
    ("quantity(self.memory) == quantity('2147483648')", True),
    ("quantity('1') == quantity('1000m')", True),
    ("quantity(self.memory).compareTo(quantity('2Gi')) == 0", True),
    ("quantity(self.memory).add(quantity('1Gi')).isGreaterThan(quantity('2.5Gi'))", True),
    ("quantity(self.cpu).sub(1).sign() == -1", True),
    ("quantity(self.cpu).isInteger() == false && quantity(self.memory).asInteger() > 0", True),
    ("quantity(self.cpu).asApproximateFloat() == 0.5", True),
    ("isQuantity(self.cpu) && !isQuantity('lots')", True),
])
def test_quantity_library(rule: str, ok: bool) -> None:
    schema = spec_with([{"rule": rule}], memory={"type": "string"}, cpu={"type": "string"})
    found = check(schema, {"spec": {"memory": "2Gi", "cpu": "500m"}})
    assert (found == []) == ok, found


def test_a_bad_quantity_fails_the_rule_naming_it() -> None:
    schema = spec_with([{"rule": "quantity(self.cpu).sign() >= 0"}], cpu={"type": "string"})
    found = check(schema, {"spec": {"cpu": "lots"}})
    assert len(found) == 1 and "evaluating rule: quantity(self.cpu).sign() >= 0" in found[0]
