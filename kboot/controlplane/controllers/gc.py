"""The garbage collector: ownerReferences turned into cascading deletion.

- **background**: an object all of whose owners are gone is deleted (an owner is "gone" when
  no informer knows its uid *and* a live GET confirms it; owners of kinds we do not watch are
  assumed alive, so we never delete on ignorance);
- **foreground**: an owner with the ``foregroundDeletion`` finalizer has its dependents deleted
  first; the finalizer is removed once none remain;
- **orphan**: an owner with the ``orphan`` finalizer has its ownerReference removed from every
  dependent, then the finalizer is removed.
Keys are ``<plural>|<namespace>/<name>`` (``<plural>.<group>|…`` for custom resources).

Custom resources take part in both directions (a Deployment owned by a custom resource, a
custom resource owned by a Deployment): the collector watches the CRDs and starts an informer
for every kind an established CRD serves (:func:`~kboot.controlplane.api.crd.served.
served_kind`), as upstream's collector follows discovery.
"""

from __future__ import annotations

import contextlib
import logging

from kboot.controlplane.api.crd.served import CRD_KIND, served_kind
from kboot.controlplane.api.registry import ResourceKind, for_api_version
from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.api import DeleteOptions
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.errors import NotFound
from kboot.controlplane.client.informer import Handlers, Informer
from kboot.controlplane.client.meta import is_deleting, key_of, split_key
from kboot.controlplane.controllers.base import Controller, ControllerContext

log = logging.getLogger(__name__)
WATCHED = ("deployments", "replicasets", "replicationcontrollers", "pods", "statefulsets",
           "daemonsets", "jobs", "controllerrevisions", "persistentvolumeclaims", "endpointslices",
           "cronjobs")
FOREGROUND, ORPHAN = "foregroundDeletion", "orphan"


class GarbageCollector(Controller):
    name = "garbagecollector"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.by_plural: dict[str, Informer] = {}
        self.kinds: dict[str, ResourceKind] = {}  # by_plural's keys → their kinds
        self.uids: dict[str, str] = {}  # uid -> "plural|key"
        for plural in WATCHED:
            self._follow(plural, self.informer(plural))
        self.crds = self.ctx.informers.get(CRD_KIND)
        self.crds.add_handlers(Handlers(on_add=self._crd,
                                        on_update=lambda _old, crd: self._crd(crd)))

    def _follow(self, plural: str, inf: Informer) -> None:
        self.by_plural[plural] = inf
        self.kinds[plural] = inf.kind
        inf.add_handlers(Handlers(
            on_add=lambda o, p=plural: self._seen(p, o),  # type: ignore[misc]
            on_update=lambda _old, o, p=plural: self._seen(p, o),  # type: ignore[misc]
            on_delete=lambda o, p=plural: self._gone(p, o)))  # type: ignore[misc]

    def _crd(self, crd: Obj) -> None:
        """Start following the custom resources of a newly established CRD."""
        kind = served_kind(crd)
        if kind is None:
            return
        key = f"{kind.plural}.{kind.group}"
        if key not in self.by_plural:
            self._follow(key, self.ctx.informers.get(kind))

    def _kind_of(self, ref: dict[str, str]) -> tuple[str, ResourceKind] | None:
        """The followed kind an ownerReference names (None: not followed)."""
        api_version, kind_name = ref.get("apiVersion", ""), ref.get("kind", "")
        for key, kind in self.kinds.items():
            if kind.api_version == api_version and kind.kind == kind_name:
                return key, kind
        builtin = for_api_version(api_version, kind_name)
        if builtin is not None and builtin.plural in self.by_plural:
            return builtin.plural, builtin
        return None

    def _seen(self, plural: str, obj: Obj) -> None:
        md = obj["metadata"]
        self.uids[md["uid"]] = f"{plural}|{key_of(obj)}"
        fins = md.get("finalizers") or []
        if md.get("ownerReferences") or (is_deleting(obj) and (FOREGROUND in fins or
                                                                ORPHAN in fins)):
            self.queue.add(f"{plural}|{key_of(obj)}")

    def _gone(self, plural: str, obj: Obj) -> None:
        md = obj["metadata"]
        self.uids.pop(md["uid"], None)
        for dep in self.dependents(md["uid"]):
            self.queue.add(dep)
        for ref in md.get("ownerReferences") or []:  # a foreground owner may now be done
            owner = self.uids.get(ref["uid"])
            if owner:
                self.queue.add(owner)

    def dependents(self, uid: str) -> list[str]:
        return [f"{p}|{key_of(o)}" for p, inf in self.by_plural.items()
                for o in inf.by_index("owner", uid)]

    async def reconcile(self, key: str) -> Result:
        plural, _, okey = key.partition("|")
        obj = self.by_plural[plural].get(okey)
        if obj is None:
            return DONE
        fins = obj["metadata"].get("finalizers") or []
        if is_deleting(obj) and ORPHAN in fins:
            await self._orphan(plural, obj)
            return DONE
        if is_deleting(obj) and FOREGROUND in fins:
            return await self._foreground(plural, obj)
        await self._collect_if_dangling(plural, obj)
        return DONE

    async def _owner_exists(self, ref: dict[str, str], namespace: str | None) -> bool:
        if ref["uid"] in self.uids:
            return True
        followed = self._kind_of(ref)
        if followed is None:
            return True  # a kind we do not track: never delete on ignorance
        kind = followed[1]
        try:
            live = await self.client.get(kind, ref["name"],
                                         namespace=namespace if kind.namespaced else None)
        except NotFound:
            return False
        return bool(live["metadata"].get("uid") == ref["uid"])

    async def _collect_if_dangling(self, plural: str, obj: Obj) -> None:
        md = obj["metadata"]
        refs = md.get("ownerReferences") or []
        if not refs or is_deleting(obj):
            return
        for ref in refs:
            if await self._owner_exists(ref, md.get("namespace")):
                return
        log.info("gc: deleting %s %s: all owners are gone", plural, key_of(obj))
        with contextlib.suppress(NotFound):
            await self.client.delete(self.kinds[plural], md["name"],
                                     namespace=md.get("namespace"),
                                     options=DeleteOptions(propagation_policy="Background",
                                                           preconditions={"uid": md["uid"]}))

    async def _remove_finalizer(self, plural: str, obj: Obj, finalizer: str) -> None:
        md = obj["metadata"]
        left = [f for f in md.get("finalizers") or [] if f != finalizer]
        await self.client.patch(self.kinds[plural], md["name"], namespace=md.get("namespace"),
                                patch={"metadata": {"finalizers": left or None}})

    async def _foreground(self, plural: str, obj: Obj) -> Result:
        deps = self.dependents(obj["metadata"]["uid"])
        for dep in deps:
            dplural, _, dkey = dep.partition("|")
            child = self.by_plural[dplural].get(dkey)
            if child is None or is_deleting(child):
                continue
            ns, name = split_key(dkey)
            with contextlib.suppress(NotFound):
                await self.client.delete(self.kinds[dplural], name, namespace=ns,
                                         options=DeleteOptions(propagation_policy="Foreground"))
        if deps:
            return Result(requeue_after=2.0)
        await self._remove_finalizer(plural, obj, FOREGROUND)
        return DONE

    async def _orphan(self, plural: str, obj: Obj) -> None:
        uid = obj["metadata"]["uid"]
        for dep in self.dependents(uid):
            dplural, _, dkey = dep.partition("|")
            child = self.by_plural[dplural].get(dkey)
            if child is None:
                continue
            refs = [r for r in child["metadata"].get("ownerReferences") or [] if r["uid"] != uid]
            ns, name = split_key(dkey)
            with contextlib.suppress(NotFound):
                await self.client.patch(self.kinds[dplural], name, namespace=ns,
                                        patch={"metadata": {"ownerReferences": refs or None}})
        await self._remove_finalizer(plural, obj, ORPHAN)
