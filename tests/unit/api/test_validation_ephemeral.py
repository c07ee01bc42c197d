"""Ephemeral container rules: what a debug container may not set, unique names, immutability."""

from __future__ import annotations

from typing import Any

from kboot.controlplane.api.validation_ephemeral import validate_update
from kboot.controlplane.api.validation_pods import validate_pod

SPEC: dict[str, Any] = {"containers": [{"name": "c", "image": "b"}],
                        "initContainers": [{"name": "i", "image": "b"}]}


def _errors(new: list[dict[str, Any]], old: list[dict[str, Any]] | None = None) -> list[str]:
    spec = {**SPEC, "ephemeralContainers": new}
    return [str(e) for e in validate_update(spec, {**SPEC, "ephemeralContainers": old or []})]


def test_a_plain_debug_container_is_valid() -> None:
    assert _errors([{"name": "dbg", "image": "b", "targetContainerName": "c", "resources": {},
                     "stdin": True, "tty": True}]) == []


def test_what_an_ephemeral_container_may_not_set() -> None:
    errors = _errors([{"name": "dbg", "image": "b", "ports": [{"containerPort": 80}],
                       "resources": {"limits": {"cpu": "1"}},
                       "readinessProbe": {"exec": {"command": ["true"]}},
                       "lifecycle": {"preStop": {"exec": {"command": ["true"]}}}}])
    assert sorted(errors) == sorted(
        f"spec.ephemeralContainers[0].{f}: Forbidden: cannot be set for an Ephemeral Container"
        for f in ("ports", "resources", "readinessProbe", "lifecycle"))


def test_names_targets_and_image() -> None:
    errors = _errors([{"name": "c", "image": "b"}, {"name": "i", "image": "b"},
                      {"name": "x", "image": "b", "targetContainerName": "nope"},
                      {"name": "x", "image": ""}])
    assert errors == [
        'spec.ephemeralContainers[0].name: Duplicate value: "c"',
        'spec.ephemeralContainers[1].name: Duplicate value: "i"',
        'spec.ephemeralContainers[2].targetContainerName: Not found: "nope"',
        "spec.ephemeralContainers[3].image: Required value",
        'spec.ephemeralContainers[3].name: Duplicate value: "x"']


def test_existing_ones_are_immutable() -> None:
    old = [{"name": "a", "image": "b"}]
    assert _errors([*old, {"name": "z", "image": "b"}], old) == []
    assert _errors([{"name": "a", "image": "other"}], old) == [
        'spec.ephemeralContainers[0]: Forbidden: existing ephemeral containers "a" may not be '
        "changed"]
    assert _errors([], old) == [
        'spec.ephemeralContainers: Forbidden: existing ephemeral containers "a" may not be '
        "removed"]


def test_not_on_create() -> None:
    pod = {"spec": {**SPEC, "ephemeralContainers": [{"name": "d", "image": "b"}]}}
    assert "spec.ephemeralContainers: Forbidden: cannot be set on create" in [
        str(e) for e in validate_pod(pod, None)]
