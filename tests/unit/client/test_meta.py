"""Structured label selectors and object-metadata helpers."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.api.owners import controller_of, owner_reference
from kboot.controlplane.client.meta import key_of, selector_matches

LABELS = {"app": "web", "tier": "front"}


@pytest.mark.parametrize("selector,expected", [
    ({}, True),
    ({"matchLabels": {"app": "web"}}, True),
    ({"matchLabels": {"app": "api"}}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, False),
    (None, False),
])
def test_structured_selectors(selector: dict[str, Any] | None, expected: bool) -> None:
    assert selector_matches(selector, LABELS) is expected


def test_keys_and_owner_references() -> None:
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
             "metadata": {"name": "rs", "namespace": "ns", "uid": "u1"}}
    pod = {"metadata": {"name": "p", "namespace": "ns",
                        "ownerReferences": [owner_reference(owner)]}}
    assert key_of(pod) == "ns/p"
    assert key_of({"metadata": {"name": "n1"}}) == "n1"
    ref = controller_of(pod)
    assert ref is not None and ref["uid"] == "u1" and ref["kind"] == "ReplicaSet"
