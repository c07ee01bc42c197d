"""The ``kubernetes`` Service's endpoints, kept to the apiservers that are alive (upstream's
``--endpoint-reconciler-type=lease``).

Each apiserver holds a Lease in ``kube-system`` for its advertise address
(``kboot-apiserver-<address>``, label ``kboot.io/apiserver-endpoint``) and renews it every
``interval`` seconds; on every renewal it sets the ``kubernetes`` Endpoints and EndpointSlice to
the addresses whose Leases have not expired (``renewTime`` + ``leaseDurationSeconds`` after this
apiserver's wall clock: control planes' clocks must agree to well within the duration). A
crashed apiserver thus drops out after the duration, a removed control plane too; a stopping
one deletes its Lease and takes its address out at once (:meth:`EndpointReconciler.leave`).
A Lease nobody renewed for a second duration after it expired (a control plane removed with
``--force``, a host that vanished in a restore onto new machines, a crash) is deleted by the
next reconcile, as upstream's etcd TTL drops its keys (:func:`dead_leases`).

Upstream keeps its leases as store keys with an etcd TTL; kboot's SQLite store has no TTL that
a renewal extends, so the leases are API objects (visible with ``kubectl -n kube-system get
leases -l kboot.io/apiserver-endpoint``), and every apiserver reads them from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
from collections.abc import Iterable
from typing import Any

from kboot.controlplane.api.registry import ResourceKind, lookup
from kboot.controlplane.apiserver.admission import WriteOptions, admit_create
from kboot.controlplane.apiserver.errors import StatusError
from kboot.controlplane.apiserver.storage import ObjectStorage
from kboot.controlplane.apiserver.writes import guarded_update
from kboot.controlplane.client.clock import Clock
from kboot.controlplane.client.meta import now_micro, parse_time

log = logging.getLogger(__name__)
JsonObj = dict[str, Any]

NAMESPACE = "kube-system"
LABEL = "kboot.io/apiserver-endpoint"
PREFIX = "kboot-apiserver-"


def _kind(group: str, plural: str) -> ResourceKind:
    kind = lookup(group, plural)
    assert kind is not None
    return kind


def lease_name(address: str) -> str:
    """The Lease of ``address`` (dots and colons of IPv4/IPv6 become dashes)."""
    return PREFIX + address.replace(".", "-").replace(":", "-")


def lease_spec(address: str, *, renew_time: str, duration: int) -> JsonObj:
    return {"holderIdentity": address, "leaseDurationSeconds": duration,
            "renewTime": renew_time}


def _renewal(lease: JsonObj) -> tuple[float, int] | None:
    """(last renewal, duration) of an endpoint Lease; None for a Lease of something else or
    one never renewed."""
    labels = (lease.get("metadata") or {}).get("labels") or {}
    spec = lease.get("spec") or {}
    renewed = parse_time(spec.get("renewTime"))
    if LABEL not in labels or renewed is None:
        return None
    return renewed, int(spec.get("leaseDurationSeconds") or 0)


def live_addresses(leases: Iterable[JsonObj], *, now: float) -> list[str]:
    """The addresses (sorted) of the endpoint Leases unexpired at ``now`` (epoch seconds)."""
    out: set[str] = set()
    for lease in leases:
        address = (lease.get("spec") or {}).get("holderIdentity")
        renewal = _renewal(lease)
        if address and renewal is not None and renewal[0] + renewal[1] > now:
            out.add(str(address))
    return sorted(out)


def dead_leases(leases: Iterable[JsonObj], *, now: float) -> list[JsonObj]:
    """The endpoint Leases expired for at least another duration at ``now``: their apiservers
    are gone (a live one renews every ``interval``, well inside the duration), sorted by name."""
    dead = [lease for lease in leases if (renewal := _renewal(lease)) is not None
            and renewal[0] + 2 * renewal[1] <= now]
    return sorted(dead, key=lambda lease: str(lease["metadata"].get("name", "")))


def endpoints_with(current: JsonObj, addresses: list[str]) -> JsonObj:
    """The ``kubernetes`` Endpoints with exactly ``addresses`` (its ports kept)."""
    new = copy.deepcopy(current)
    subset = (new.get("subsets") or [{}])[0]
    subset["addresses"] = [{"ip": a} for a in addresses]
    new["subsets"] = [subset] if addresses else []
    return new


def slice_with(current: JsonObj, addresses: list[str]) -> JsonObj:
    """The ``kubernetes`` EndpointSlice with exactly ``addresses`` (ready; its ports kept)."""
    new = copy.deepcopy(current)
    new["endpoints"] = [{"addresses": [a], "conditions": {"ready": True}} for a in addresses]
    return new


class EndpointReconciler:
    """This apiserver's endpoint Lease and the reconcile of the ``kubernetes`` endpoints."""

    def __init__(self, storage: ObjectStorage, clock: Clock, *, address: str,
                 duration: int = 30, interval: float = 10.0) -> None:
        self.storage = storage
        self.clock = clock
        self.address = address
        self.duration = duration
        self.interval = interval
        self._lease = _kind("coordination.k8s.io", "leases")
        self._endpoints = _kind("", "endpoints")
        self._slices = _kind("discovery.k8s.io", "endpointslices")

    async def renew(self) -> None:
        """Create or renew this apiserver's Lease."""
        name = lease_name(self.address)
        spec = lease_spec(self.address, renew_time=now_micro(self.clock),
                          duration=self.duration)
        try:
            await guarded_update(self.storage, self._lease, NAMESPACE, name,
                                 lambda cur: {**cur, "spec": {**(cur.get("spec") or {}),
                                                              **spec}})
            return
        except StatusError as err:
            if err.code != 404:
                raise
        obj = {"apiVersion": self._lease.api_version, "kind": "Lease",
               "metadata": {"name": name, "namespace": NAMESPACE,
                            "labels": {LABEL: "true"}}, "spec": spec}
        admitted = admit_create(self.storage.kinds.strategy(self._lease), obj,
                                namespace=NAMESPACE,
                                opts=WriteOptions(field_manager="kube-apiserver"),
                                now=self.clock.now())
        try:
            await self.storage.create(self._lease, admitted)
        except StatusError as err:
            if err.code != 409:  # a peer with the same address created it: renewed next time
                raise

    async def live(self) -> list[str]:
        page = await self.storage.list(self._lease, NAMESPACE)
        return live_addresses(page.items, now=self.clock.time())

    async def reconcile(self, addresses: list[str]) -> None:
        """Set the ``kubernetes`` Endpoints and EndpointSlice to ``addresses`` (a write only
        where they differ)."""
        for kind, change in ((self._endpoints, endpoints_with), (self._slices, slice_with)):
            try:
                await guarded_update(self.storage, kind, "default", "kubernetes",
                                     functools.partial(change, addresses=addresses))
            except StatusError as err:
                if err.code != 404:  # deleted by someone: recreated at the next start
                    raise

    async def join(self) -> None:
        """Renew this apiserver's Lease and reconcile (startup: this address joins); delete the
        Leases of apiservers long gone."""
        await self.renew()
        page = await self.storage.list(self._lease, NAMESPACE)
        now = self.clock.time()
        await self.reconcile(live_addresses(page.items, now=now))
        for lease in dead_leases(page.items, now=now):
            await self._delete(lease)

    async def _delete(self, lease: JsonObj) -> None:
        """Delete ``lease`` as read (a renewal or another apiserver's delete since wins)."""
        try:
            await self.storage.delete(self._lease, lease,
                                      expected=int(lease["metadata"]["resourceVersion"]))
        except StatusError as err:
            if err.code not in (404, 409):
                raise
            return
        log.info("endpoint lease %s of %s expired long ago: deleted",
                 lease["metadata"]["name"], (lease.get("spec") or {}).get("holderIdentity"))

    async def run(self, stop: asyncio.Event) -> None:
        """Renew and reconcile every ``interval`` seconds until ``stop`` is set; a round under
        way is finished (a renewal cancelled mid-write might still land after :meth:`leave`
        and bring the address back)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
                return
            try:
                await self.join()
            except Exception:  # a store hiccup: the next round tries again
                log.warning("endpoint lease renewal failed", exc_info=True)

    async def leave(self) -> list[str]:
        """Delete this apiserver's Lease and take its address out of the endpoints; returns
        the addresses left. When there is none (the only apiserver), nothing changes: the
        address stays (there is nobody to move clients to)."""
        remaining = [a for a in await self.live() if a != self.address]
        if not remaining:
            return []
        try:
            await self._delete(await self.storage.get(self._lease, NAMESPACE,
                                                      lease_name(self.address)))
        except StatusError as err:
            if err.code != 404:
                raise
        await self.reconcile(remaining)
        return remaining

