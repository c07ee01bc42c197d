"""What a custom resource write keeps from the body, as upstream's custom resource strategy.

With the ``status`` subresource on, the main endpoint cannot change ``status`` (a create drops
it, an update keeps the stored one) and ``/status`` can change nothing else: every field but
``status`` comes from the stored object (the body's ``resourceVersion`` stays, as the
precondition of the write).  ``metadata.generation`` starts at 1 and grows by one whenever
anything but ``metadata`` and ``status`` changes (without the subresource: anything but
``metadata``), so controllers can tell spec changes from their own status writes.
"""

from __future__ import annotations

import copy
from typing import Any

from kboot.controlplane.api.crd.paths import field_of

Obj = dict[str, Any]


def prepare_create(obj: Obj, *, status_enabled: bool) -> Obj:
    """The object to store from a create body (in place; returned)."""
    if status_enabled:
        obj.pop("status", None)
    meta = obj.setdefault("metadata", {})
    if isinstance(meta, dict):
        meta["generation"] = 1
    return obj


def _rest(obj: Obj, *skip: str) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", *skip)}


def prepare_update(new: Obj, old: Obj, *, status_enabled: bool) -> Obj:
    """The object to store from a main-endpoint update (in place; returned)."""
    if status_enabled:
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)
    skip = ("status",) if status_enabled else ()
    generation = field_of(old, "metadata").get("generation")
    generation = generation if isinstance(generation, int) else 1
    if _rest(new, *skip) != _rest(old, *skip):
        generation += 1
    if isinstance(new.get("metadata"), dict):
        new["metadata"]["generation"] = generation
    return new


def prepare_status_update(new: Obj, old: Obj) -> Obj:
    """The object to store from a ``/status`` update: the stored object with the new status."""
    out = copy.deepcopy(old)
    if "status" in new:
        out["status"] = copy.deepcopy(new["status"])
    else:
        out.pop("status", None)
    meta = field_of(new, "metadata")
    if isinstance(out.get("metadata"), dict) and "resourceVersion" in meta:
        out["metadata"]["resourceVersion"] = meta["resourceVersion"]
    return out
