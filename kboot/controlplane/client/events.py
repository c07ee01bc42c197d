"""The event recorder: Kubernetes ``Event`` objects about an object, as ``kubectl describe``
shows them. Repeats of the same (object, type, reason, message) bump ``count`` and
``lastTimestamp`` on the existing Event instead of creating a new one. Recording never raises
into the caller; failures are logged.

Events are a side channel: background recordings run at most ``max_in_flight`` at a time and
at most ``max_pending`` wait, beyond which new ones are dropped (as upstream's broadcaster
drops when its channel is full), so a burst of events never competes with the real work
(bindings, pod creates) for the apiserver.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from kboot.controlplane.client.api import ApiClient, Obj
from kboot.controlplane.client.clock import REAL_CLOCK, Clock
from kboot.controlplane.client.errors import ApiError, NotFound
from kboot.controlplane.client.meta import now

log = logging.getLogger(__name__)


class EventRecorder:
    def __init__(self, client: ApiClient, component: str, *, host: str = "",
                 max_in_flight: int = 4, max_pending: int = 1000,
                 clock: Clock = REAL_CLOCK) -> None:
        self.client = client
        self.clock = clock
        self.component = component
        self.host = host
        self.max_pending = max_pending
        self.dropped = 0
        self._lane = asyncio.Semaphore(max_in_flight)
        self._seen: dict[tuple[str, str, str, str], tuple[str, str, int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        """Record in the background (handlers and hot paths must not wait on the API)."""
        if len(self._tasks) >= self.max_pending:
            self.dropped += 1
            log.debug("event backlog full; dropped %s on %s", reason,
                      (obj.get("metadata") or {}).get("name"))
            return
        task = asyncio.create_task(self._lane_record(obj, type_, reason, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _lane_record(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        async with self._lane:
            await self.record(obj, type_, reason, message)

    async def record(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        md = obj.get("metadata") or {}
        ns = md.get("namespace") or "default"
        cache_key = (str(md.get("uid", md.get("name"))), type_, reason, message)
        try:
            seen = self._seen.get(cache_key)
            if seen is not None:
                name, ev_ns, count = seen
                try:
                    await self.client.patch("events", name, namespace=ev_ns, patch={
                        "count": count + 1, "lastTimestamp": now(self.clock)})
                    self._seen[cache_key] = (name, ev_ns, count + 1)
                    return
                except NotFound:
                    pass
            created = await self.client.create("events", self._body(obj, ns, type_, reason,
                                                                      message))
            self._seen[cache_key] = (created["metadata"]["name"], ns, 1)
        except ApiError as exc:
            log.warning("could not record event %s on %s: %s", reason, md.get("name"), exc)

    def _body(self, obj: Obj, ns: str, type_: str, reason: str, message: str) -> Obj:
        md = obj.get("metadata") or {}
        ts = now(self.clock)
        involved = {"kind": obj.get("kind"), "apiVersion": obj.get("apiVersion"),
                    "name": md.get("name"), "uid": md.get("uid"),
                    "resourceVersion": md.get("resourceVersion")}
        if md.get("namespace"):
            involved["namespace"] = md["namespace"]
        return {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{md.get('name')}.{uuid.uuid4().hex[:16]}", "namespace": ns},
            "involvedObject": involved, "reason": reason, "message": message, "type": type_,
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
            "reportingComponent": self.component, "reportingInstance": self.host,
            "firstTimestamp": ts, "lastTimestamp": ts, "count": 1,
        }

    async def flush(self) -> None:
        """Wait for background recordings (tests, shutdown)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
