"""Typed decoding: each case is (kind, object, expected (field, detail fragment) pairs)."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.api import names, typed
from kboot.controlplane.api.errors import PatchError
from kboot.controlplane.api.patch import field_path, json_patch, strategic_merge_patch
from kboot.controlplane.api.quantities import is_quantity
from kboot.controlplane.api.schemas import definitions, extra_definition_name


def _deploy(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
                                                 "template": {"spec": {"containers": [
                                                     {"name": "c", "image": "i"}]}}, **spec}}


def _limits(value: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "i", "resources": {"limits": {"cpu": value}}}]}}


LIMITS = "spec.containers[0].resources.limits[cpu]"
TYPE_ERRORS: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    ("Deployment", _deploy(replicas=2**31), [("spec.replicas", "int32")]),
    ("Deployment", _deploy(replicas=10**30), [("spec.replicas", "int32")]),
    ("Deployment", _deploy(replicas=-(2**31)), []),
    ("Deployment", _deploy(replicas=1.5), [("spec.replicas", "integer")]),
    ("Deployment", _deploy(replicas=True), [("spec.replicas", "integer")]),
    ("Deployment", _deploy(selector={"matchLabels": {"a": None}}),
     [("spec.selector.matchLabels[a]", "null")]),
    ("Deployment", _deploy(progressDeadlineSeconds=None, replicas=None), []),
    ("Job", {"metadata": {"name": "j"}, "spec": {"parallelism": 2**31, "backoffLimit": 10**30,
                                                 "activeDeadlineSeconds": 2**40}},
     [("spec.parallelism", "int32"), ("spec.backoffLimit", "int32")]),
    ("Pod", {"metadata": {"name": "p"}, "spec": {"terminationGracePeriodSeconds": 10**18}}, []),
    ("Pod", {"metadata": {"name": "p"}, "spec": {"terminationGracePeriodSeconds": 2**63}},
     [("spec.terminationGracePeriodSeconds", "int64")]),
    ("Pod", _limits(None), [(LIMITS, "null")]),
    ("Pod", _limits("1e99999999"), [(LIMITS, "quantities")]),
    ("Pod", _limits(float("inf")), [(LIMITS, "quantities")]),
    ("Pod", _limits("100m"), []),
    ("Pod", {"metadata": {"name": "p"}, "spec": {"containers": [None]}},
     [("spec.containers[0]", "null")]),
    ("Service", {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80,
                                                                "targetPort": 2**31}]}},
     [("spec.ports[0].targetPort", "int32")]),
    ("ConfigMap", {"metadata": {"name": "c", "labels": {1: "x"}}},
     [("metadata.labels", "keys must be strings")]),
]


@pytest.mark.parametrize(("kind", "obj", "expected"), TYPE_ERRORS)
def test_type_errors(kind: str, obj: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    found = typed.decode(kind, obj)
    got = [(e.field, e.detail) for e in found.errors]
    assert [f for f, _ in got] == [f for f, _ in expected], got
    for (_, detail), (_, fragment) in zip(got, expected, strict=True):
        assert fragment in detail


def test_null_fields_are_unset_and_input_is_not_mutated() -> None:
    obj = _deploy(replicas=None, strategy={"type": None})
    decoded = typed.decode("Deployment", obj)
    assert not decoded.errors
    assert "replicas" not in decoded.obj["spec"] and decoded.obj["spec"]["strategy"] == {}
    assert obj["spec"]["replicas"] is None


def test_missing_and_unknown_fields() -> None:
    decoded = typed.decode("Pod", {"metadata": {"name": "p"}, "spec": {"containers": [{}]},
                                   "bogus": 1})
    assert [e.field for e in decoded.missing] == ["spec.containers[0].name"]
    assert decoded.unknown == ["bogus"]


def test_scale_body_by_schema() -> None:
    schema = definitions()[extra_definition_name("Scale")]
    assert [e.field for e in typed.decode_as(schema, {"spec": []}).errors] == ["spec"]
    assert not typed.decode_as(schema, {"spec": {"replicas": 3}}).errors


@pytest.mark.parametrize(("text", "ok"), [("1e100", True), ("1e101", False), ("1E-100", True),
                                           ("1e-101", False), ("1e9999999", False)])
def test_quantity_exponent_bound(text: str, ok: bool) -> None:
    assert is_quantity(text) is ok


@pytest.mark.parametrize(("host", "ok"), [
    ("example.com", True), ("*.example.com", True), ("a.*.com", False), ("*", False),
    ("*.", False), ("10.0.0.1", False), ("::1", False), ("Upper.com", False)])
def test_ingress_hosts(host: str, ok: bool) -> None:
    assert (names.ingress_host_errors(host) == []) is ok


@pytest.mark.parametrize(("pointer", "field"), [
    ("/spec/ports/0/port", "spec.ports[0].port"), ("/metadata/labels/a~1b", "metadata.labels.a/b"),
    ("", "<document>"), (5, "<document>"), ("/0", "[0]")])
def test_field_path(pointer: Any, field: str) -> None:
    assert field_path(pointer) == field


def test_unappliable_json_patch_names_its_field() -> None:
    with pytest.raises(PatchError) as info:
        json_patch({"spec": {}}, [{"op": "test", "path": "/spec/x", "value": 1}])
    assert info.value.code == 422 and info.value.field == "spec.x"


@pytest.mark.parametrize("patch", [
    {"spec": {"template": {"spec": {"$setElementOrder/containers": 5}}}},
    {"spec": {"template": {"spec": {"$setElementOrder/containers": [1]}}}},
    {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"image": "x"}]}}}},
    {"metadata": {"$setElementOrder/finalizers": [{"a": 1}]}},
    {"spec": {"$retainKeys": "x"}},
    {"spec": {"$patch": 5}},
])
def test_malformed_strategic_directives_are_400(patch: dict[str, Any]) -> None:
    doc = {"metadata": {"finalizers": ["a"]}, "spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "i"}]}}}}
    with pytest.raises(PatchError) as info:
        strategic_merge_patch("Deployment", doc, patch)
    assert info.value.code == 400
