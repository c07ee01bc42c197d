"""Owner references: which object controls which, written once.

Controllers adopt what their owner created by the ``ownerReferences`` entry marked
``controller: true`` (at most one per object, upstream's ``GetControllerOf``); the scheduler
groups pods by it for spreading, and ``kboot remove-node`` tells managed pods from bare ones
with it. All of them call :func:`controller_of` / :func:`controller_uid` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from kboot.controlplane.api.shapes import OwnerReference, metadata


def controller_of(obj: Mapping[str, Any]) -> OwnerReference | None:
    """A copy of the owner reference marked ``controller: true``, if any."""
    for ref in metadata(obj).get("ownerReferences") or ():
        if isinstance(ref, Mapping) and ref.get("controller"):
            return cast(OwnerReference, dict(ref))
    return None


def controller_uid(obj: Mapping[str, Any]) -> str | None:
    """The uid of ``obj``'s controller, or None when nothing controls it."""
    ref = controller_of(obj)
    return ref.get("uid") if ref is not None else None


def is_controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    uid = controller_uid(obj)
    return uid is not None and uid == metadata(owner).get("uid")


def owner_reference(owner: Mapping[str, Any], *, controller: bool = True,
                    block_owner_deletion: bool = True) -> OwnerReference:
    """An ``ownerReferences`` entry pointing at ``owner``, which must be a stored object
    (``apiVersion``, ``kind``, ``metadata.name`` and ``metadata.uid`` set)."""
    meta = metadata(owner)
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": controller,
            "blockOwnerDeletion": block_owner_deletion}
