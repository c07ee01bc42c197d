"""Validation ratcheting (CRDValidationRatcheting, on in 1.32): updates are refused only for
what they change."""

from __future__ import annotations

import copy
from typing import Any

from kboot.controlplane.api.crd.resource import ResourceSchema

SCHEMA: dict[str, Any] = {"type": "object", "properties": {"spec": {
    "type": "object", "required": ["size"],
    "x-kubernetes-validations": [{"rule": "self.replicas <= 5", "message": "at most 5"},
                                 {"rule": "!has(oldSelf.mode) || self.mode == oldSelf.mode",
                                  "message": "mode is immutable"}],
    "properties": {
        "size": {"type": "string"},
        "mode": {"type": "string"},
        "replicas": {"type": "integer"},
        "name": {"type": "string", "maxLength": 3},
        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "required": ["name"], "properties": {
                      "name": {"type": "string"}, "port": {"type": "integer", "maximum": 100}}}},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 2}},
    }}}}


def obj(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "x.io/v1", "kind": "W",
            "metadata": {"name": "w", "namespace": "d", "labels": {}}, "spec": spec}


def errors(new: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    rs = ResourceSchema(SCHEMA, kind="W", namespaced=True)
    return [str(e) for e in rs.admit(copy.deepcopy(new), old=old).errors]


def test_an_invalid_object_stays_updatable_where_the_update_does_not_touch() -> None:
    stored = obj(name="toolong", replicas=9, ports=[{"name": "a", "port": 500}],
                 tags=["abc"])            # valid under an older schema; no "size" either
    relabelled = copy.deepcopy(stored)
    relabelled["metadata"]["labels"] = {"team": "x"}
    assert errors(stored, None) != []    # a create is fully validated
    assert errors(relabelled, stored) == []


def test_changed_fields_are_validated() -> None:
    stored = obj(size="s", name="toolong", ports=[{"name": "a", "port": 500},
                                                   {"name": "b", "port": 1}])
    changed = obj(size="s", name="longer", ports=[{"name": "b", "port": 600},
                                                  {"name": "a", "port": 500}])
    assert errors(changed, stored) == [
        "spec.name: Too long: may not be more than 3 bytes",
        "spec.ports[0].port: Invalid value: 600: spec.ports[0].port in body should be less "
        "than or equal to 100",
    ]   # ports[1] ("a", unchanged, correlated by key) ratchets


def test_items_of_atomic_lists_ratchet_only_with_their_list() -> None:
    stored = obj(size="s", tags=["abc", "x"])
    assert errors(obj(size="s", tags=["abc", "x"]), stored) == []
    assert errors(obj(size="s", tags=["abc", "y"]), stored) == [
        'spec.tags[0]: Too long: may not be more than 2 bytes']


def test_rules_ratchet_but_transition_rules_always_apply() -> None:
    stored = obj(size="s", replicas=9, mode="a")
    assert errors(obj(size="s", replicas=9, mode="a"), stored) == []
    assert errors(obj(size="m", replicas=9, mode="a"), stored) == [
        'spec: Invalid value: "object": at most 5']      # spec changed: the rule applies
    assert errors(obj(size="s", replicas=9, mode="b"), stored) == [
        'spec: Invalid value: "object": at most 5',
        'spec: Invalid value: "object": mode is immutable']
