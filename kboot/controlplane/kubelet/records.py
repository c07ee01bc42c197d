"""``Record``: the kubelet's memory of one container of a pod, and the probes attached to it.

A record outlives container instances: it carries the restart count, the back-off state, the
previous instance (for ``lastState`` and ``logs --previous``) and the probe results of the
current instance. Probe tasks report only for the container they were started for, so a late
result from a replaced instance is ignored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.clock import Clock
from kboot.controlplane.kubelet.cri.types import ContainerStatus, Runtime
from kboot.controlplane.kubelet.probes import probe_loop


@dataclass
class Record:
    """One container of the pod across its instances."""

    name: str
    restarts: int = 0
    container_id: str = ""
    current: ContainerStatus | None = None
    previous: ContainerStatus | None = None
    backoff: float = 0.0
    not_before: float = 0.0
    waiting_reason: str = ""
    waiting_message: str = ""
    ready: bool = False
    started: bool = False
    live: bool = True
    pull_backoff: float = 0.0
    pull_not_before: float = 0.0
    probes: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.current is not None and self.current.state == "running"

    def stop_probes(self) -> None:
        for task in self.probes:
            task.cancel()
        self.probes = []

    def start_probes(self, container: Obj, *, runtime: Runtime, pod_ip: str,
                     on_unhealthy: Callable[[], None], wake: Callable[[], None],
                     clock: Clock) -> None:
        """(Re)start startup/liveness/readiness probes for the current instance."""
        self.stop_probes()
        self.ready = "readinessProbe" not in container
        self.started = "startupProbe" not in container
        self.live = True
        cid = self.container_id

        def report(kind: str, ok: bool) -> None:
            if self.container_id != cid:
                return
            if kind == "startup":
                self.started = ok
            elif kind == "readiness":
                self.ready = ok
            elif not ok:
                self.live = False
                on_unhealthy()
            wake()

        for kind in ("startup", "liveness", "readiness"):
            probe = container.get(f"{kind}Probe")
            if probe:
                gate = (lambda: True) if kind == "startup" else (lambda: self.started)
                self.probes.append(asyncio.create_task(probe_loop(
                    probe, kind=kind, runtime=runtime, container_id=cid, container=container,
                    pod_ip=pod_ip, report=report, gate=gate, clock=clock)))
