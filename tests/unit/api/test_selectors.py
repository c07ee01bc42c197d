"""Label and field selectors: parse, match, reject."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.api.selectors import (
    SelectorError,
    label_selector_from_dict,
    parse_field_selector,
    parse_label_selector,
    selector_string,
)

LABELS = {"app": "web", "tier": "front", "version": "3"}

LABEL_CASES = [
    ("", True),
    ("app=web", True),
    ("app==web", True),
    ("app=db", False),
    ("app!=db", True),
    ("app!=web", False),
    ("missing!=x", True),
    ("app in (web,db)", True),
    ("app in (db, cache)", False),
    ("app notin (db)", True),
    ("missing notin (db)", True),
    ("app notin (web,db)", False),
    ("app", True),
    ("missing", False),
    ("!missing", True),
    ("!app", False),
    ("app=web,tier=front", True),
    ("app=web,tier=back", False),
    ("app=web, tier in (front), !missing", True),
    ("version>2", True),
    ("version<3", False),
    ("app>2", False),
    ("example.com/role=x", False),
    ("app=", False),
    ("missing=", False),
]


@pytest.mark.parametrize(("text", "expected"), LABEL_CASES)
def test_label_selector_matches(text: str, expected: bool) -> None:
    assert parse_label_selector(text).matches(LABELS) is expected


def test_empty_value_matches_empty_label() -> None:
    assert parse_label_selector("a=").matches({"a": ""})
    assert parse_label_selector("a in (x,)").matches({"a": ""})


@pytest.mark.parametrize(
    "text",
    ["app in web", "app in (web", "=x", "app=web,", "Bad_Key!/x=1", "a=b c", "a in (x y)",
     "app=-bad", "v>x", "a ~ b", "UPPER.com/x=1", "a in ()", "a notin ( )"],
)
def test_label_selector_rejects(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(text)


@pytest.mark.parametrize(
    ("text", "rendered"),
    [("app=web", "app=web"), ("a in (y,x)", "a in (x,y)"), ("!a", "!a"), ("a", "a"),
     ("a!=b,c", "a!=b,c"), ("n>3", "n>3")],
)
def test_label_selector_round_trips(text: str, rendered: str) -> None:
    assert str(parse_label_selector(text)) == rendered
    assert str(parse_label_selector(rendered)) == rendered


DICT_CASES: list[tuple[dict[str, Any] | None, dict[str, str], bool]] = [
    (None, LABELS, False),
    ({}, LABELS, True),
    ({"matchLabels": {"app": "web"}}, LABELS, True),
    ({"matchLabels": {"app": "web", "tier": "back"}}, LABELS, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}, LABELS, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}, LABELS,
     False),
    ({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}, LABELS, True),
    ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, {}, False),
    ({"matchLabels": {"app": "web"},
      "matchExpressions": [{"key": "version", "operator": "Exists"}]}, LABELS, True),
]


@pytest.mark.parametrize(("sel", "labels", "expected"), DICT_CASES)
def test_label_selector_from_dict(
    sel: dict[str, Any] | None, labels: dict[str, str], expected: bool
) -> None:
    assert label_selector_from_dict(sel).matches(labels) is expected


@pytest.mark.parametrize(
    "sel",
    [{"matchExpressions": [{"key": "a", "operator": "Bogus"}]},
     {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
     {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
     {"matchLabels": {"a": "not valid"}}],
)
def test_label_selector_from_dict_rejects(sel: dict[str, Any]) -> None:
    with pytest.raises(SelectorError):
        label_selector_from_dict(sel)


def test_selector_string_for_scale() -> None:
    assert selector_string({"matchLabels": {"app": "d1", "a": "b"}}) == "a=b,app=d1"
    text = selector_string({"matchExpressions": [{"key": "x", "operator": "In",
                                                  "values": ["2", "1"]}]})
    assert text == "x in (1,2)"


POD = {
    "metadata": {"name": "p1", "namespace": "default"},
    "spec": {"nodeName": "n1", "hostNetwork": True, "restartPolicy": "Always"},
    "status": {"phase": "Running"},
}
EVENT = {
    "metadata": {"name": "e1", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "name": "p1", "namespace": "default", "uid": "u-1"},
    "source": {"component": "kubelet"},
    "type": "Normal",
}

FIELD_CASES = [
    ("Pod", POD, "", True),
    ("Pod", POD, "metadata.name=p1", True),
    ("Pod", POD, "metadata.name==p2", False),
    ("Pod", POD, "metadata.name!=p2", True),
    ("Pod", POD, "spec.nodeName=n1,status.phase=Running", True),
    ("Pod", POD, "spec.nodeName=", False),
    ("Pod", {"metadata": {"name": "x"}, "spec": {}}, "spec.nodeName=", True),
    ("Pod", POD, "spec.hostNetwork=true", True),
    ("Pod", POD, "metadata.namespace!=default", False),
    ("Event", EVENT,
     "involvedObject.name=p1,involvedObject.namespace=default,involvedObject.uid=u-1", True),
    ("Event", EVENT, "source=kubelet", True),
    ("Event", EVENT, "type!=Normal", False),
    ("Secret", {"metadata": {"name": "s"}, "type": "Opaque"}, "type=Opaque", True),
    ("Node", {"metadata": {"name": "n"}, "spec": {}}, "spec.unschedulable=false", False),
    ("Node", {"metadata": {"name": "n"}, "spec": {"unschedulable": False}},
     "spec.unschedulable=false", True),
    ("ConfigMap", {"metadata": {"name": "a,b"}}, r"metadata.name=a\,b", True),
]


@pytest.mark.parametrize(("kind", "obj", "text", "expected"), FIELD_CASES)
def test_field_selector_matches(kind: str, obj: dict[str, Any], text: str, expected: bool) -> None:
    assert parse_field_selector(kind, text).matches(obj) is expected


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [("Pod", "spec.bogus=1", "field label not supported: spec.bogus"),
     ("ConfigMap", "status.phase=x", "field label not supported: status.phase"),
     ("Pod", "metadata.name", "expected an operator")],
)
def test_field_selector_rejects(kind: str, text: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        parse_field_selector(kind, text)


def test_field_selector_value_for_indexes() -> None:
    sel = parse_field_selector("Pod", "spec.nodeName=n1,metadata.name!=x")
    assert sel.value_for("spec.nodeName") == "n1"
    assert sel.value_for("metadata.name") is None
    selector = parse_field_selector("apps/v1/Deployment", "metadata.name=d1")
    assert selector.kind == "apps/v1/Deployment"
