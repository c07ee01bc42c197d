"""Status subresource and generation rules of custom resource writes."""

from __future__ import annotations

import copy
from typing import Any

from kboot.controlplane.api.crd.writes import (
    prepare_create,
    prepare_status_update,
    prepare_update,
)


def cr(replicas: int, ready: int | None = None, **meta: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": "x.io/v1", "kind": "W",
                           "metadata": {"name": "w", **meta}, "spec": {"replicas": replicas}}
    if ready is not None:
        out["status"] = {"ready": ready}
    return out


def test_create_starts_at_generation_one_without_status() -> None:
    assert prepare_create(cr(1, ready=3), status_enabled=True) == {
        **cr(1), "metadata": {"name": "w", "generation": 1}}
    assert prepare_create(cr(1, ready=3), status_enabled=False)["status"] == {"ready": 3}


def test_main_endpoint_keeps_the_stored_status_and_bumps_on_spec_changes() -> None:
    old = cr(1, ready=1, generation=4)
    same_spec = prepare_update(cr(1, ready=9, generation=4, labels={"a": "b"}), old,
                               status_enabled=True)
    assert same_spec["status"] == {"ready": 1}
    assert same_spec["metadata"]["generation"] == 4     # labels and status do not count
    new_spec = prepare_update(cr(2, generation=4), old, status_enabled=True)
    assert new_spec["metadata"]["generation"] == 5 and new_spec["status"] == {"ready": 1}


def test_without_the_subresource_status_is_ordinary_data() -> None:
    old = cr(1, ready=1, generation=2)
    updated = prepare_update(cr(1, ready=2, generation=2), old, status_enabled=False)
    assert updated["status"] == {"ready": 2} and updated["metadata"]["generation"] == 3


def test_status_endpoint_changes_only_status() -> None:
    old = cr(1, ready=1, generation=2, resourceVersion="10")
    body = cr(7, ready=5, generation=9, resourceVersion="10", labels={"x": "y"})
    stored = prepare_status_update(body, copy.deepcopy(old))
    assert stored == {**old, "status": {"ready": 5}}
