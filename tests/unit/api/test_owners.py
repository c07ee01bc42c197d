"""Owner references: the one controller_of every controller and the scheduler use."""

from __future__ import annotations

from kboot.controlplane.api.owners import (
    controller_of,
    controller_uid,
    is_controlled_by,
    owner_reference,
)

OWNER = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs", "uid": "u-rs"}}


def test_owner_reference_points_at_the_owner() -> None:
    assert owner_reference(OWNER) == {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                      "name": "rs", "uid": "u-rs", "controller": True,
                                      "blockOwnerDeletion": True}
    assert owner_reference(OWNER, controller=False, block_owner_deletion=False)[
        "controller"] is False


def test_controller_is_the_reference_marked_controller() -> None:
    ref = owner_reference(OWNER)
    pod = {"metadata": {"ownerReferences": [{**ref, "controller": False, "uid": "x"}, ref]}}
    assert controller_of(pod) == ref
    assert controller_uid(pod) == "u-rs"
    assert is_controlled_by(pod, OWNER)
    assert not is_controlled_by(pod, {"metadata": {"uid": "other"}})


def test_no_controller() -> None:
    for obj in ({}, {"metadata": None}, {"metadata": {}}, {"metadata": {"ownerReferences": None}},
                {"metadata": {"ownerReferences": [{"uid": "x", "controller": False}]}}):
        assert controller_of(obj) is None
        assert controller_uid(obj) is None
        assert not is_controlled_by(obj, OWNER)


def test_controller_of_returns_a_copy() -> None:
    ref = owner_reference(OWNER)
    pod = {"metadata": {"ownerReferences": [ref]}}
    found = controller_of(pod)
    assert found is not None
    found["uid"] = "changed"
    assert ref["uid"] == "u-rs"
