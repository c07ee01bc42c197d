"""The ingress controller loop: informers → debounced full re-render → haproxy, Events, status.

Every change to an Ingress, IngressClass, Service, Endpoints or Secret enqueues the single key
``sync`` ~200 ms later (the workqueue keeps the earliest pending delay and never runs the key
twice at once, so a burst of changes costs one render). A sync renders the whole configuration
from the informer caches — level-triggered, nothing incremental to get wrong — and hands it to
the :class:`~kboot.controlplane.ingress.haproxy.Proxy`, which reloads only when the text or
certificates changed. Failures requeue with backoff.

Only ``kubernetes.io/tls`` Secrets are watched (field selector). A haproxy that dies is restarted
at once; a full re-sync every ``resync`` seconds (10) repairs status drift.

Events are recorded only when an Ingress's set of problems changes (and once more when they
clear), so a steady state never spams. ``status.loadBalancer.ingress`` is shared by every
ingress node: each controller adds its own node IP with a read-modify-write on
resourceVersion (conflicts retried on the next sync), and removes it from Ingresses that are
no longer ours. A node that disappears leaves its IP behind until an operator removes it
(documented limitation).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.clock import REAL_CLOCK, Clock
from kboot.controlplane.client.controller import Result, run_controller
from kboot.controlplane.client.errors import AlreadyExists, ApiError, Conflict, NotFound
from kboot.controlplane.client.events import EventRecorder
from kboot.controlplane.client.informer import Handlers, Informer, Informers
from kboot.controlplane.client.workqueue import WorkQueue
from kboot.controlplane.ingress.classes import (
    default_class_body,
    is_default_class,
    our_class_names,
)
from kboot.controlplane.ingress.config import RenderedConfig, render
from kboot.controlplane.ingress.haproxy import Proxy
from kboot.controlplane.ingress.routes import Problem, key_of

log = logging.getLogger(__name__)
SYNC_KEY = "sync"
KINDS = ("ingresses", "ingressclasses", "services", "endpoints", "secrets")
TLS_ONLY = "type=kubernetes.io/tls"  # the only Secrets we read (less memory, less exposure)


@dataclass(frozen=True)
class Settings:
    node_name: str
    node_ip: str
    bind_addresses: tuple[str, ...]
    controller_class: str = "kboot.io/ingress"
    default_class_name: str = "kboot"
    http_port: int = 80
    https_port: int = 443
    certs_dir: str = "/etc/kboot/ingress/certs"
    debounce: float = 0.2
    run_as: str = ""  # haproxy workers' user (empty: stay as the controller's user)
    resync: float = 10.0  # seconds between full re-syncs (status drift, missed restarts)


class IngressController:
    name = "ingress"

    def __init__(self, client: ApiClient, proxy: Proxy, settings: Settings, *,
                 clock: Clock = REAL_CLOCK) -> None:
        self.client, self.proxy, self.settings = client, proxy, settings
        self.informers = Informers(client, clock=clock)
        self.caches: dict[str, Informer] = {
            k: self.informers.get(k, field_selector=TLS_ONLY if k == "secrets" else None)
            for k in KINDS}
        self.queue = WorkQueue(clock=clock)  # debounce and resync delays
        self.recorder = EventRecorder(client, "kboot-ingress", host=settings.node_name,
                                      clock=clock)
        self._reported: dict[str, tuple[Problem, ...]] = {}
        self.last: RenderedConfig | None = None
        proxy.on_exit = lambda: self.queue.add_after(SYNC_KEY, 0.5)

    def _enqueue(self, *_args: object) -> None:
        self.queue.add_after(SYNC_KEY, self.settings.debounce)

    async def run(self) -> None:
        handlers = Handlers(on_add=self._enqueue, on_update=self._enqueue,
                            on_delete=self._enqueue)
        for informer in self.caches.values():
            informer.add_handlers(handlers)
        self.informers.start()
        try:
            await self.informers.wait_synced()
            await self.ensure_ingress_class()
            self.queue.add(SYNC_KEY)
            await run_controller(self, self.queue)
        finally:
            await self.informers.stop()
            await self.recorder.flush()

    async def ensure_ingress_class(self) -> None:
        """Create IngressClass ``kboot`` when no class of ours exists (default if no other is)."""
        classes = self.caches["ingressclasses"].objects()
        names, _ = our_class_names(classes, self.settings.controller_class)
        if names:
            return
        make_default = not any(is_default_class(c) for c in classes)
        body = default_class_body(self.settings.default_class_name,
                                  self.settings.controller_class, make_default=make_default)
        try:
            await self.client.create("ingressclasses", body)
            log.info("created IngressClass %s (default: %s)", body["metadata"]["name"],
                     make_default)
        except AlreadyExists:
            pass
        except ApiError as exc:  # e.g. Forbidden: serving existing classes still works
            log.warning("could not create IngressClass %s: %s", body["metadata"]["name"], exc)

    def render(self) -> RenderedConfig:
        c, s = self.caches, self.settings
        return render(c["ingresses"].objects(), c["ingressclasses"].objects(),
                      c["services"].objects(), c["endpoints"].objects(), c["secrets"].objects(),
                      node_ips=s.bind_addresses, controller_class=s.controller_class,
                      http_port=s.http_port, https_port=s.https_port, certs_dir=s.certs_dir,
                      run_as=s.run_as)

    async def reconcile(self, key: str) -> Result:
        rendered = self.render()
        self.report_problems(rendered)  # independent of haproxy accepting the result
        if await self.proxy.apply(rendered):
            log.info("haproxy configuration applied (%d ingresses)", len(rendered.ingresses))
        self.last = rendered
        await self.update_statuses(rendered)
        return Result(requeue_after=self.settings.resync)

    def report_problems(self, rendered: RenderedConfig) -> None:
        ingresses = self.caches["ingresses"]
        for key in set(self._reported) | set(rendered.problems):
            now, before = rendered.problems.get(key, ()), self._reported.get(key, ())
            obj = ingresses.get(key)
            if now == before or obj is None:
                continue
            for problem in now:
                if problem not in before:
                    self.recorder.event(obj, "Warning", problem.reason, problem.message)
            if not now and key in rendered.ingresses:
                self.recorder.event(obj, "Normal", "Sync", "all routes resolved")
        self._reported = {k: v for k, v in rendered.problems.items()}

    async def update_statuses(self, rendered: RenderedConfig) -> None:
        ours = set(rendered.ingresses)
        failed = False
        for obj in self.caches["ingresses"].objects():
            key = key_of(obj)
            has_ip = self._entry() in _lb(obj)
            if (key in ours) != has_ip:
                failed |= not await self._set_own_ip(key, present=key in ours)
        if failed:
            self.queue.add_after(SYNC_KEY, 1.0)

    def _entry(self) -> Obj:
        return {"ip": self.settings.node_ip}

    async def _set_own_ip(self, key: str, *, present: bool) -> bool:
        namespace, name = key.split("/", 1)
        try:
            fresh = await self.client.get("ingresses", name, namespace=namespace)
            entries = [e for e in _lb(fresh) if e != self._entry()]
            if present:
                entries.append(self._entry())
            entries.sort(key=lambda e: (str(e.get("ip", "")), str(e.get("hostname", ""))))
            fresh.setdefault("status", {})["loadBalancer"] = {"ingress": entries}
            await self.client.replace_status("ingresses", fresh)
            return True
        except (Conflict, NotFound) as exc:
            log.debug("status of ingress %s: %s; retrying", key, exc)
            return False


def _lb(obj: Obj) -> list[Obj]:
    return list(((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])


async def run(client: ApiClient, proxy: Proxy, settings: Settings) -> None:
    """Run the controller until cancelled, then stop haproxy."""
    controller = IngressController(client, proxy, settings)
    try:
        await controller.run()
    finally:
        await asyncio.shield(proxy.stop())
