"""What every controller shares: the :class:`ControllerContext` (client, shared informers,
event recorder, options, clock) and the :class:`Controller` base with its workqueue and enqueue
helpers. Nothing here is global; the manager builds one context and passes it down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kboot.controlplane.api.owners import controller_of
from kboot.controlplane.api.shapes import Obj, metadata
from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.clock import Clock
from kboot.controlplane.client.controller import Result
from kboot.controlplane.client.events import EventRecorder
from kboot.controlplane.client.informer import Informer, Informers
from kboot.controlplane.client.meta import key_of
from kboot.controlplane.client.workqueue import WorkQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Options:
    cluster_cidr: str = "10.244.0.0/16"
    node_cidr_mask: int = 24
    node_monitor_grace_period: float = 40.0
    node_monitor_period: float = 5.0
    pod_eviction_timeout: float = 60.0
    workers: int = 4
    cluster_signing_cert_file: str = ""
    cluster_signing_key_file: str = ""
    cluster_signing_duration: float = 365 * 24 * 3600.0
    root_ca: str = ""  # PEM published as kube-root-ca.crt in every namespace


@dataclass(frozen=True)
class ControllerContext:
    client: ApiClient
    informers: Informers
    recorder: EventRecorder
    options: Options
    clock: Clock
    """Every read of time in a controller goes through it (tests pass a ``FakeClock``)."""


class Controller:
    """Base: a named reconciler with its own queue. Subclasses wire informers in ``__init__``."""

    name = "controller"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.clock = ctx.clock
        self.queue = WorkQueue(clock=ctx.clock)

    def informer(self, ref: str, **kw: str) -> Informer:
        return self.ctx.informers.get(ref, **kw)

    def enqueue(self, obj: Obj) -> None:
        self.queue.add(key_of(obj))

    def enqueue_controller(self, obj: Obj, kind: str) -> None:
        """Enqueue the object's controlling owner if it is of ``kind``."""
        ref = controller_of(obj)
        if ref and ref.get("kind") == kind:
            ns = metadata(obj).get("namespace")
            self.queue.add(f"{ns}/{ref['name']}" if ns else str(ref["name"]))

    async def reconcile(self, key: str) -> Result:
        raise NotImplementedError
