"""Object conventions: Status bodies, generation, spec/status split."""

from __future__ import annotations

import random
from typing import Any

import pytest

from kboot.controlplane.api.errors import ApplyConflict, ConflictCause, PatchError, SelectorError
from kboot.controlplane.api.field_errors import required
from kboot.controlplane.api.objects import (
    already_exists,
    conflict,
    controller_of,
    expired,
    generated_name,
    has_status_subresource,
    invalid,
    is_controlled_by,
    not_found,
    owner_reference,
    prepare_for_create,
    prepare_for_status_update,
    prepare_for_update,
    status_error,
    status_for_rule_error,
    status_success,
    tracks_generation,
    type_meta,
)


def test_type_meta_and_subresources() -> None:
    assert type_meta("Deployment") == {"apiVersion": "apps/v1", "kind": "Deployment"}
    assert type_meta("Pod") == {"apiVersion": "v1", "kind": "Pod"}
    assert has_status_subresource("Deployment") and not has_status_subresource("ConfigMap")
    assert tracks_generation("Deployment") and not tracks_generation("ConfigMap")


@pytest.mark.parametrize(
    ("status", "code", "reason", "message"),
    [(not_found("Pod", "p1"), 404, "NotFound", 'pods "p1" not found'),
     (not_found("Deployment", "d"), 404, "NotFound", 'deployments.apps "d" not found'),
     (already_exists("ConfigMap", "c"), 409, "AlreadyExists", 'configmaps "c" already exists'),
     (conflict("Pod", "p"), 409, "Conflict",
      'Operation cannot be fulfilled on pods "p": the object has been modified; please apply '
      "your changes to the latest version and try again"),
     (expired("too old resource version: 1 (5)"), 410, "Expired",
      "too old resource version: 1 (5)"),
     (status_error(429, "TooManyRequests", "slow down"), 429, "TooManyRequests", "slow down")],
)
def test_status_errors(status: dict[str, Any], code: int, reason: str, message: str) -> None:
    assert status["kind"] == "Status" and status["apiVersion"] == "v1"
    assert status["status"] == "Failure" and status["metadata"] == {}
    assert (status["code"], status["reason"], status["message"]) == (code, reason, message)


def test_not_found_details() -> None:
    assert not_found("Deployment", "d")["details"] == {"name": "d", "group": "apps",
                                                       "kind": "deployments"}
    assert status_success()["status"] == "Success"


def test_invalid_lists_causes() -> None:
    status = invalid("Pod", "p", [required("spec.containers[0].image")])
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["message"] == 'Pod "p" is invalid: spec.containers[0].image: Required value'
    assert status["details"]["causes"] == [{"reason": "FieldValueRequired",
                                            "message": "Required value",
                                            "field": "spec.containers[0].image"}]
    assert status["details"]["kind"] == "Pod"


def test_rule_errors_become_statuses() -> None:
    conflict_status = status_for_rule_error(
        ApplyConflict([ConflictCause(".spec.replicas", "kubectl-scale")]), kind="Deployment",
        name="d")
    assert conflict_status["code"] == 409 and conflict_status["reason"] == "Conflict"
    assert conflict_status["details"]["causes"] == [{
        "reason": "FieldManagerConflict", "message": 'conflict with "kubectl-scale"',
        "field": ".spec.replicas"}]
    assert status_for_rule_error(SelectorError("field label not supported: x"))["code"] == 400
    unprocessable = status_for_rule_error(PatchError("doc is missing path: /a", code=422))
    assert (unprocessable["code"], unprocessable["reason"]) == (422, "Invalid")


def test_generated_name() -> None:
    name = generated_name("web-", rng=random.Random(1))
    assert name.startswith("web-") and len(name) == 9
    assert all(c in "bcdfghjklmnpqrstvwxz2456789" for c in name[4:])


DEPLOY = {"metadata": {"name": "d", "uid": "u1", "generation": 4,
                       "creationTimestamp": "2024-01-01T00:00:00Z"},
          "spec": {"replicas": 1}, "status": {"replicas": 1}}


def test_prepare_for_create() -> None:
    out = prepare_for_create("Deployment", {"metadata": {"name": "d", "resourceVersion": "9"},
                                            "spec": {}, "status": {"replicas": 5}})
    assert "status" not in out
    assert out["metadata"] == {"name": "d", "generation": 1}
    assert out["apiVersion"] == "apps/v1" and out["kind"] == "Deployment"
    cm = prepare_for_create("ConfigMap", {"metadata": {"name": "c", "generation": 3}})
    assert "generation" not in cm["metadata"]


@pytest.mark.parametrize(
    ("new", "generation", "status"),
    [({"metadata": {"name": "d"}, "spec": {"replicas": 2}, "status": {"replicas": 9}}, 5,
      {"replicas": 1}),
     ({"metadata": {"name": "d", "labels": {"a": "b"}}, "spec": {"replicas": 1}}, 4,
      {"replicas": 1})],
)
def test_prepare_for_update(new: dict[str, Any], generation: int,
                            status: dict[str, Any]) -> None:
    out = prepare_for_update("Deployment", DEPLOY, new)
    assert out["metadata"]["generation"] == generation
    assert out["status"] == status
    assert out["metadata"]["uid"] == "u1"
    assert out["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"


def test_prepare_for_status_update() -> None:
    new = {"metadata": {"name": "d", "resourceVersion": "7", "labels": {"x": "y"}},
           "spec": {"replicas": 50}, "status": {"replicas": 3}}
    out = prepare_for_status_update("Deployment", DEPLOY, new)
    assert out["spec"] == {"replicas": 1}
    assert out["status"] == {"replicas": 3}
    assert out["metadata"]["resourceVersion"] == "7" and "labels" not in out["metadata"]


def test_owner_references() -> None:
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
             "metadata": {"name": "rs", "uid": "u-rs"}}
    ref = owner_reference(owner)
    assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u-rs",
                   "controller": True, "blockOwnerDeletion": True}
    pod = {"metadata": {"ownerReferences": [{**ref, "controller": False, "uid": "x"}, ref]}}
    assert controller_of(pod) == ref
    assert is_controlled_by(pod, owner)
    assert not is_controlled_by(pod, {"metadata": {"uid": "other"}})
    assert controller_of({"metadata": {}}) is None
