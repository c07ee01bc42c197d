"""Ephemeral containers (``kubectl debug``): which to start, and into which PID namespace.

An ephemeral container is started once, after the pod's app containers, and never restarted
(upstream: "ephemeral containers are not restarted"); it does not count towards the pod's phase
or readiness. With ``targetContainerName`` it joins the target's PID namespace (CRI
``NamespaceMode.TARGET``), so ``ps`` in the debug shell lists the target's processes; the
target must be running for that, otherwise the container waits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.kubelet.records import Record


@dataclass(frozen=True)
class Launch:
    container: Obj
    target_id: str  # "" without targetContainerName


def to_start(spec: Obj, records: Mapping[str, Record]) -> tuple[list[Launch], dict[str, str]]:
    """The ephemeral containers to start now, and the ones waiting (name → reason).

    A container is started only while it has never had an instance: once created (running or
    exited) it is left alone for good.
    """
    launches: list[Launch] = []
    waiting: dict[str, str] = {}
    for container in spec.get("ephemeralContainers") or []:
        if not isinstance(container, dict) or not container.get("name"):
            continue
        rec = records.get(container["name"])
        if rec is not None and (rec.container_id or rec.current is not None
                                or rec.previous is not None):
            continue
        target = container.get("targetContainerName") or ""
        target_id = ""
        if target:
            target_rec = records.get(target)
            if target_rec is None or not target_rec.running:
                waiting[container["name"]] = f"target container {target} is not running"
                continue
            target_id = target_rec.container_id
        launches.append(Launch(container, target_id))
    return launches, waiting
