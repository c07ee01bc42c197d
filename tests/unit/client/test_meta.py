"""Label and field selector matching, the string and structured forms."""

from __future__ import annotations

import pytest

from kboot.controlplane.client.meta import (
    parse_field_selector,
    parse_label_selector,
    selector_matches,
    selector_string,
)

LABELS = {"app": "web", "tier": "front"}


@pytest.mark.parametrize("text,expected", [
    ("", True),
    ("app=web", True),
    ("app==web", True),
    ("app!=web", False),
    ("app in (web,api)", True),
    ("app notin (web,api)", False),
    ("tier", True),
    ("!tier", False),
    ("!missing", True),
    ("app=web,tier=back", False),
    ("app in (x, web),tier", True),
])
def test_label_selector_strings(text: str, expected: bool) -> None:
    assert parse_label_selector(text)(LABELS) is expected


@pytest.mark.parametrize("selector,expected", [
    ({}, True),
    ({"matchLabels": {"app": "web"}}, True),
    ({"matchLabels": {"app": "api"}}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, False),
    (None, False),
])
def test_structured_selectors(selector: dict[str, object] | None, expected: bool) -> None:
    assert selector_matches(selector, LABELS) is expected


def test_structured_selector_round_trips_through_its_string_form() -> None:
    sel = {"matchLabels": {"app": "web"},
           "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a", "b"]}]}
    text = selector_string(sel)
    assert text == "app=web,tier notin (a,b)"
    assert parse_label_selector(text)(LABELS)
    assert not parse_label_selector(text)({"app": "web", "tier": "a"})


@pytest.mark.parametrize("text,expected", [
    ("spec.nodeName=", True),
    ("spec.nodeName=n1", False),
    ("status.phase!=Running", True),
    ("metadata.name=p,spec.schedulerName=default-scheduler", True),
])
def test_field_selectors(text: str, expected: bool) -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"schedulerName": "default-scheduler"},
           "status": {"phase": "Pending"}}
    assert parse_field_selector(text)(pod) is expected
