"""The read-only shortcuts of ``record_update`` answer exactly what the plain functions do:
:class:`~kboot.controlplane.api.fieldpaths.Values` as :func:`value_at` for every path, and the
read-only scope as the copying one, nulls and duplicate list-map keys included."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kboot.controlplane.api.apply import _scope
from kboot.controlplane.api.fieldpaths import Values, field_set, value_at
from kboot.controlplane.api.registry import lookup

PODS = lookup("", "pods")
assert PODS is not None

POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "p", "namespace": "d", "uid": "u", "resourceVersion": "7",
                 "labels": {"a": "1"}, "annotations": {"n": None, "m": "x"},
                 "managedFields": [{"manager": "m", "operation": "Update"}]},
    "spec": {"nodeName": "n1", "containers": [
        {"name": "c", "image": "i", "ports": [{"containerPort": 80},
                                             {"containerPort": 80, "protocol": "TCP"},
                                             {"containerPort": 81, "protocol": "UDP"}],
         "env": [{"name": "A", "value": None}, {"name": "A", "value": "second"}],
         "command": ["sh", None]},
        {"name": "d", "image": None, "resources": {"limits": {"cpu": "1"}}}],
        "tolerations": [{"key": "k", "operator": "Exists"}], "securityContext": {}},
    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
}
NO_NULLS: dict[str, Any] = {
    "metadata": {"name": "q", "labels": {"a": "1"}},
    "spec": {"containers": [{"name": "c", "image": "i", "args": ["a", "b"]}]},
}


@pytest.mark.parametrize("obj", [POD, NO_NULLS], ids=["nulls and duplicates", "no nulls"])
@pytest.mark.parametrize("subresource", ["", "status", "binding"])
def test_the_read_only_scope_equals_the_copying_one_and_leaves_the_object(
        obj: dict[str, Any], subresource: str) -> None:
    before = copy.deepcopy(obj)
    shared = _scope(PODS, obj, subresource, read_only=True)
    assert shared == _scope(PODS, obj, subresource)
    assert obj == before
    assert "uid" not in shared["metadata"]


@pytest.mark.parametrize("obj", [POD, NO_NULLS], ids=["nulls and duplicates", "no nulls"])
def test_values_answers_value_at_for_every_path(obj: dict[str, Any]) -> None:
    scoped = _scope(PODS, obj, "", read_only=True)
    paths = field_set(PODS, scoped) | field_set(PODS, POD) | {
        ("f:spec", "f:missing", "f:deeper"), ("f:spec", "f:containers", 'k:{"name":"zz"}', "."),
        (".",), ()}
    values = Values(scoped)
    for path in sorted(paths):
        assert values.at(path) == value_at(scoped, path), path
        assert values.at(path) is value_at(scoped, path) or values.at(path) is None
