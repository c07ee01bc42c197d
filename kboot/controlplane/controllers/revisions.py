"""ControllerRevisions: the template history of StatefulSets and DaemonSets.

One revision per distinct pod template, named ``<owner>-<template hash>``, its ``data`` the
strategic-merge patch that restores the template (``$patch: replace``), which is exactly what
``kubectl rollout undo sts|ds`` applies; ``kubectl rollout history`` lists them by
``revision``. Returning to an old template reuses its revision object and gives it the next
number, as upstream does.
"""

from __future__ import annotations

import contextlib
import copy

from kboot.controlplane.api.owners import owner_reference
from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.errors import AlreadyExists
from kboot.controlplane.client.informer import Informer
from kboot.controlplane.controllers import pods as podlib


def revision_name(owner: Obj) -> str:
    return f"{owner['metadata']['name']}-{podlib.template_hash(owner['spec']['template'])}"


async def ensure_revision(client: ApiClient, revisions: Informer, owner: Obj) -> str:
    """The name of the revision for the owner's current template, created or renumbered."""
    name = revision_name(owner)
    ns = owner["metadata"]["namespace"]
    owned = revisions.by_index("owner", owner["metadata"]["uid"])
    top = max((int(r.get("revision", 0)) for r in owned), default=0)
    current = revisions.get(f"{ns}/{name}")
    if current is not None:
        if int(current.get("revision", 0)) < top:
            await client.patch("controllerrevisions", name, {"revision": top + 1},
                               namespace=ns)
        return name
    template = copy.deepcopy(owner["spec"]["template"])
    template["$patch"] = "replace"
    body = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": name, "namespace": ns,
                         "labels": dict(owner["spec"]["selector"].get("matchLabels") or {}),
                         "ownerReferences": [owner_reference(owner)]},
            "data": {"spec": {"template": template}}, "revision": top + 1}
    with contextlib.suppress(AlreadyExists):
        await client.create("controllerrevisions", body)
    return name
