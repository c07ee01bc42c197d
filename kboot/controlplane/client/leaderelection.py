"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go does it.

A candidate takes the lease when it is free or its holder has not renewed it for
``lease_duration`` *as observed locally* (we time the holder's record changes with our own
monotonic clock, so clock skew between hosts does not matter). Writes are compare-and-swap on
resourceVersion, so two candidates cannot both win. The leader renews every ``retry_period``;
if it cannot renew within ``renew_deadline`` it stops acting at once: the callback is
cancelled before anyone else can take the lease. On clean shutdown the lease is released so a
standby takes over without waiting out the lease.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kboot.controlplane.client.api import ApiClient, Obj
from kboot.controlplane.client.clock import REAL_CLOCK, Clock
from kboot.controlplane.client.errors import ApiError, NotFound
from kboot.controlplane.client.meta import now_micro

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaderElectionConfig:
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    namespace: str = "kube-system"


class LeaderElector:
    def __init__(self, client: ApiClient, *, name: str, identity: str,
                 config: LeaderElectionConfig, clock: Clock = REAL_CLOCK) -> None:
        self.client, self.name, self.identity, self.config = client, name, identity, config
        self.clock = clock
        self._observed: tuple[str, str] | None = None
        self._observed_at = 0.0
        self.is_leader = False

    def _lease_body(self, old: Obj | None) -> Obj:
        spec = dict((old or {}).get("spec") or {})
        ts = now_micro(self.clock)
        if spec.get("holderIdentity") != self.identity:
            spec["acquireTime"] = ts
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (old is not None)
        spec.update(holderIdentity=self.identity, renewTime=ts,
                    leaseDurationSeconds=max(1, round(self.config.lease_duration)))
        md = dict((old or {}).get("metadata") or {"name": self.name,
                                                   "namespace": self.config.namespace})
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": md,
                "spec": spec}

    def _held_by_other(self, lease: Obj) -> bool:
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, str(spec.get("renewTime")))
        if record != self._observed:
            self._observed, self._observed_at = record, self.clock.monotonic()
        if not holder or holder == self.identity:
            return False
        return self.clock.monotonic() - self._observed_at < self.config.lease_duration

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True when we hold the lease afterwards."""
        try:
            try:
                lease = await self.client.get("leases", self.name,
                                              namespace=self.config.namespace)
            except NotFound:
                await self.client.create("leases", self._lease_body(None))
                return True
            if self._held_by_other(lease):
                return False
            await self.client.replace("leases", self._lease_body(lease))
            return True
        except ApiError as exc:
            log.debug("lease %s: attempt failed: %s", self.name, exc)
            return False
        except (OSError, TimeoutError) as exc:
            log.warning("lease %s: apiserver unreachable: %s", self.name, exc)
            return False

    async def release(self) -> None:
        try:
            lease = await self.client.get("leases", self.name, namespace=self.config.namespace)
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = ""
                await self.client.replace("leases", lease)
        except (ApiError, OSError, TimeoutError) as exc:
            log.debug("lease %s: release failed: %s", self.name, exc)

    async def acquire(self) -> None:
        while not await self.try_acquire_or_renew():
            await self.clock.sleep(self.config.retry_period)
        self.is_leader = True
        log.info("lease %s: %s became leader", self.name, self.identity)

    async def keep_renewing(self) -> None:
        """Return when the lease could not be renewed within the renew deadline."""
        last = self.clock.monotonic()
        patience = self.config.renew_deadline - self.config.retry_period
        while True:
            await self.clock.sleep(self.config.retry_period)
            if await self.try_acquire_or_renew():
                last = self.clock.monotonic()
            elif self.clock.monotonic() - last > patience:
                self.is_leader = False
                log.error("lease %s: %s lost leadership", self.name, self.identity)
                return


async def run_with_leader_election(client: ApiClient, *, name: str, identity: str,
                                   callback: Callable[[], Awaitable[None]],
                                   config: LeaderElectionConfig | None = None,
                                   clock: Clock = REAL_CLOCK) -> bool:
    """Wait to lead, then run ``callback`` while leading.

    Returns False when leadership was lost (the callback was cancelled), True when the callback
    finished by itself. Cancelling this coroutine releases the lease.
    """
    elector = LeaderElector(client, name=name, identity=identity,
                            config=config or LeaderElectionConfig(), clock=clock)
    await elector.acquire()
    work = asyncio.ensure_future(callback())
    renew = asyncio.create_task(elector.keep_renewing())
    try:
        done, _ = await asyncio.wait({work, renew}, return_when=asyncio.FIRST_COMPLETED)
        if work in done:
            work.result()
            return True
        return False
    finally:
        for task in (work, renew):
            task.cancel()
        await asyncio.gather(work, renew, return_exceptions=True)
        if elector.is_leader:
            await asyncio.shield(elector.release())
