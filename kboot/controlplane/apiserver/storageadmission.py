"""Upstream's DefaultStorageClass and PersistentVolumeClaimResize admission plugins (the
claims' strategy, :class:`ClaimStrategy`), and a NodeRestriction rule for volumes.

- A claim created without ``spec.storageClassName`` gets the default class (the newest
  ``is-default-class`` one) when there is one; an explicit ``""`` stays ``""`` (it asks for
  a pre-created volume only), as upstream.
- A claim update that changes ``resources.requests.storage`` is refused (403, upstream's
  wording) unless the claim is bound, its class allows expansion and it does not shrink.
- A node's write of a PersistentVolume (the Node authorizer allows it only on volumes pinned to
  that node) may only remove finalizers: what the kubelet's local-path cleanup needs, in the
  spirit of upstream's NodeRestriction (a node cannot re-point a volume at another path).

The claim rules are :class:`ClaimStrategy`'s admission hooks; the volume rule depends on who
writes, which strategies do not see, so :mod:`.crud` calls :func:`check_node_write` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kboot.controlplane.api.registry import ResourceKind, lookup
from kboot.controlplane.api.storageclasses import claim_class, default_class, resize_error
from kboot.controlplane.apiserver import limitranger
from kboot.controlplane.apiserver.errors import forbidden
from kboot.controlplane.apiserver.strategy import JsonObj, Server, Strategy

if TYPE_CHECKING:
    from kboot.controlplane.apiserver.auth import UserInfo

CLASSES = lookup("storage.k8s.io", "storageclasses")
assert CLASSES is not None


@dataclass(frozen=True)
class ClaimStrategy(Strategy):
    """PersistentVolumeClaims: the LimitRanger's storage bounds and DefaultStorageClass on
    create (upstream's plugin order), the resize rules on update."""

    async def admit_create(self, state: Server, obj: JsonObj) -> JsonObj:
        obj = await limitranger.admit_claim(state, obj)
        await default_class_on_create(state, obj)
        return obj

    def admit_update(self, state: Server, new: JsonObj, old: JsonObj) -> JsonObj:
        check_resize(state, new, old)
        return new


async def default_class_on_create(state: Server, obj: JsonObj) -> None:
    """DefaultStorageClass: fill ``spec.storageClassName`` of a new claim."""
    spec = obj.get("spec")
    if not isinstance(spec, dict) or spec.get("storageClassName") is not None:
        return
    assert CLASSES is not None
    cache = await state.caches.get(CLASSES)
    name = default_class(cache.objects.values())
    if name is not None:
        spec["storageClassName"] = name


def check_resize(state: Server, new: JsonObj, old: JsonObj) -> None:
    """PersistentVolumeClaimResize: refuse what the claim's class cannot do."""
    assert CLASSES is not None
    sc = state.caches.peek(CLASSES).objects.get(CLASSES.key(None, claim_class(old)))
    problem = resize_error(new, old, sc)
    if problem is not None:
        name = (old.get("metadata") or {}).get("name", "")
        raise forbidden("persistentvolumeclaims", "", name,
                        f'persistentvolumeclaims "{name}" is forbidden: {problem}')


_SERVER_META = ("finalizers", "managedFields", "resourceVersion", "generation")


def _without_finalizers(obj: JsonObj) -> JsonObj:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_META}
    return {**obj, "metadata": meta}


def check_node_write(user: UserInfo, kind: ResourceKind, new: JsonObj, old: JsonObj) -> None:
    """NodeRestriction for volumes: a node only removes finalizers of a PV."""
    if user.node_name is None or kind.group != "" or kind.plural != "persistentvolumes":
        return
    before = set((old.get("metadata") or {}).get("finalizers") or [])
    after = set((new.get("metadata") or {}).get("finalizers") or [])
    if not after <= before or _without_finalizers(new) != _without_finalizers(old):
        name = (old.get("metadata") or {}).get("name", "")
        raise forbidden("persistentvolumes", "", name,
                        f'persistentvolumes "{name}" is forbidden: node "{user.node_name}" '
                        "may only remove finalizers of a persistent volume")

