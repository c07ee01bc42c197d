"""Builds the selected controllers over one shared set of informers and runs them.

Informers start only after every controller has registered its handlers, and workers only
after every informer has synced, so no reconciler ever acts on a partial cache (the garbage
collector in particular must not mistake "not yet listed" for "gone").
"""

from __future__ import annotations

import asyncio
import logging

from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.clock import REAL_CLOCK, Clock
from kboot.controlplane.client.controller import run_controller
from kboot.controlplane.client.events import EventRecorder
from kboot.controlplane.client.informer import Informers
from kboot.controlplane.controllers.base import Controller, ControllerContext, Options
from kboot.controlplane.controllers.certificates import CsrApprover, CsrSigner
from kboot.controlplane.controllers.cronjob import CronJobController
from kboot.controlplane.controllers.daemonset import DaemonSetController
from kboot.controlplane.controllers.deployment import DeploymentController
from kboot.controlplane.controllers.disruption import DisruptionController
from kboot.controlplane.controllers.endpoints import EndpointsController
from kboot.controlplane.controllers.gc import GarbageCollector
from kboot.controlplane.controllers.hpa import HpaController
from kboot.controlplane.controllers.ipam import NodeIpamController
from kboot.controlplane.controllers.job import JobController
from kboot.controlplane.controllers.namespace import NamespaceController, ServiceAccountController
from kboot.controlplane.controllers.nodelifecycle import NodeLifecycleController
from kboot.controlplane.controllers.protection import (
    PvcProtectionController,
    PvProtectionController,
)
from kboot.controlplane.controllers.provisioner import LocalPathProvisioner
from kboot.controlplane.controllers.replicaset import ReplicaSetController
from kboot.controlplane.controllers.replicationcontroller import ReplicationControllerController
from kboot.controlplane.controllers.resourcequota import ResourceQuotaController
from kboot.controlplane.controllers.rootca import RootCaPublisher
from kboot.controlplane.controllers.statefulset import StatefulSetController
from kboot.controlplane.controllers.tokencleaner import TokenCleaner
from kboot.controlplane.controllers.volumes import VolumeBinder

log = logging.getLogger(__name__)

CONTROLLERS: dict[str, type[Controller]] = {
    c.name: c for c in (
        ReplicaSetController, DeploymentController, EndpointsController, GarbageCollector,
        NamespaceController, ServiceAccountController, NodeLifecycleController,
        NodeIpamController, StatefulSetController, DaemonSetController, JobController,
        VolumeBinder, CsrApprover, CsrSigner, TokenCleaner, DisruptionController,
        PvcProtectionController, PvProtectionController, RootCaPublisher, HpaController,
        CronJobController, LocalPathProvisioner, ResourceQuotaController,
        ReplicationControllerController)
}


def select(spec: str) -> list[str]:
    """kube-controller-manager's ``--controllers``: ``*``, names, and ``-name`` to disable."""
    items = [s.strip() for s in spec.split(",") if s.strip()]
    chosen = set(CONTROLLERS) if "*" in items or not items else set()
    for item in items:
        if item.startswith("-"):
            chosen.discard(item[1:])
        elif item != "*":
            if item not in CONTROLLERS:
                raise ValueError(f"unknown controller {item!r}; known: {sorted(CONTROLLERS)}")
            chosen.add(item)
    return sorted(chosen)


def build(client: ApiClient, names: list[str], options: Options, *,
          clock: Clock = REAL_CLOCK) -> tuple[Informers, list[Controller]]:
    informers = Informers(client, clock=clock)
    ctx = ControllerContext(client=client, informers=informers,
                            recorder=EventRecorder(client, "controller-manager", clock=clock),
                            options=options, clock=clock)
    return informers, [CONTROLLERS[n](ctx) for n in names]


async def run_controllers(client: ApiClient, names: list[str], options: Options, *,
                          clock: Clock = REAL_CLOCK) -> None:
    informers, controllers = build(client, names, options, clock=clock)
    informers.start()
    try:
        await informers.wait_synced()
        log.info("controllers running: %s", ", ".join(names))
        async with asyncio.TaskGroup() as tg:
            for c in controllers:
                tg.create_task(run_controller(c, c.queue, workers=options.workers))
    finally:
        await informers.stop()
