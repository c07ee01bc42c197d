"""The Node object this kubelet owns: registration, status and the Lease heartbeat.

Capacity comes from ``/proc`` (CPUs, MemTotal) and ``statvfs`` of the root dir; conditions
Ready/MemoryPressure/DiskPressure/PIDPressure are recomputed on every status update (Ready means
the runtime reports RuntimeReady and NetworkReady). The Lease in ``kube-node-lease`` is renewed
every ``lease_interval`` seconds — what the node-lifecycle controller watches. Until the node has
been posted Ready, the runtime is re-checked every ``fast_interval`` and the status posted as
soon as it turns ready (like the kubelet's fast status updates at startup): a new node is Ready
within a second of its network, not at the next 10 s update.
"""

from __future__ import annotations

import logging
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

from kboot.controlplane.api.shapes import Obj, Taint
from kboot.controlplane.client import AlreadyExists, ApiClient, ApiError, NotFound
from kboot.controlplane.client.clock import REAL_CLOCK, Clock
from kboot.controlplane.client.meta import now, now_micro
from kboot.controlplane.kubelet.cri.types import Runtime, RuntimeError_

log = logging.getLogger(__name__)
KUBELET_VERSION = "v1.32.0-kboot"
LEASE_NAMESPACE = "kube-node-lease"


@dataclass(frozen=True)
class NodeConfig:
    name: str
    ip: str
    port: int = 10250
    root_dir: str = "/var/lib/kboot/kubelet"
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    max_pods: int = 110


def _meminfo_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def capacity(root_dir: str, max_pods: int) -> dict[str, str]:
    st = os.statvfs(root_dir if os.path.isdir(root_dir) else "/")
    return {"cpu": str(os.cpu_count() or 1), "memory": f"{_meminfo_kib()}Ki",
            "pods": str(max_pods), "ephemeral-storage": f"{st.f_blocks * st.f_frsize // 1024}Ki"}


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def node_info(runtime_version: str) -> dict[str, str]:
    machine = _read("/etc/machine-id")
    return {"machineID": machine, "systemUUID": machine, "bootID": _read(
        "/proc/sys/kernel/random/boot_id"), "kernelVersion": platform.release(),
        "osImage": _os_image(), "containerRuntimeVersion": runtime_version,
        "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
        "operatingSystem": "linux", "architecture": "amd64"}


def _memory_pressure() -> bool:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    avail = int(info.get("MemAvailable", "0 kB").split()[0])
    return avail < 100 * 1024  # below 100 MiB, like the default eviction threshold


def _disk_pressure(root_dir: str) -> bool:
    st = os.statvfs(root_dir if os.path.isdir(root_dir) else "/")
    return st.f_bavail < st.f_blocks * 0.1


def conditions(runtime_ok: bool, message: str, root_dir: str, *, ts: str) -> list[Obj]:
    """The node's conditions, all stamped ``ts`` (this heartbeat's time)."""

    def cond(kind: str, ok: bool, reason: str, msg: str) -> Obj:
        return {"type": kind, "status": "True" if ok else "False", "reason": reason,
                "message": msg, "lastHeartbeatTime": ts, "lastTransitionTime": ts}

    mem, disk = _memory_pressure(), _disk_pressure(root_dir)
    return [
        cond("MemoryPressure", mem, "KubeletHasSufficientMemory" if not mem
             else "KubeletHasInsufficientMemory", "kubelet has sufficient memory available"),
        cond("DiskPressure", disk, "KubeletHasNoDiskPressure" if not disk
             else "KubeletHasDiskPressure", "kubelet has no disk pressure"),
        cond("PIDPressure", False, "KubeletHasSufficientPID", "kubelet has sufficient PID"),
        cond("Ready", runtime_ok, "KubeletReady" if runtime_ok else "KubeletNotReady", message),
    ]


class NodeAgent:
    """Registers the Node, keeps its status fresh and renews its Lease."""

    def __init__(self, client: ApiClient, runtime: Runtime, config: NodeConfig, *,
                 status_interval: float = 10.0, lease_interval: float = 10.0,
                 fast_interval: float = 0.5, clock: Clock = REAL_CLOCK) -> None:
        self.client, self.runtime, self.config = client, runtime, config
        self.clock = clock
        self.status_interval, self.lease_interval = status_interval, lease_interval
        self.fast_interval = fast_interval
        self.uid = ""
        self.ready = False  # the Ready condition last posted

    def node_object(self) -> Obj:
        cfg = self.config
        labels = {"kubernetes.io/hostname": cfg.name, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64", **cfg.labels}
        spec: Obj = {"taints": list(cfg.taints)} if cfg.taints else {}
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": cfg.name, "labels": labels}, "spec": spec}

    async def register(self) -> Obj:
        try:
            node = await self.client.create("nodes", self.node_object())
        except AlreadyExists:
            node = await self.client.patch("nodes", self.config.name,
                                           {"metadata": {"labels": self.node_object()[
                                               "metadata"]["labels"]}})
        self.uid = node["metadata"].get("uid", "")
        await self.update_status()
        return node

    async def _runtime_state(self) -> tuple[bool, str, str]:
        try:
            name, version = await self.runtime.version()
            conds = await self.runtime.status()
        except RuntimeError_ as exc:
            return False, f"container runtime is down: {exc}", "unknown"
        ok = conds.get("RuntimeReady", False) and conds.get("NetworkReady", False)
        msg = "kubelet is posting ready status" if ok else f"runtime not ready: {conds}"
        return ok, msg, f"{name}://{version}"

    async def update_status(self) -> None:
        cfg = self.config
        ok, message, version = await self._runtime_state()
        cap = capacity(cfg.root_dir, cfg.max_pods)
        status = {
            "capacity": cap, "allocatable": cap,
            "addresses": [{"type": "InternalIP", "address": cfg.ip},
                          {"type": "Hostname", "address": cfg.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": cfg.port}},
            "nodeInfo": node_info(version),
            "conditions": conditions(ok, message, cfg.root_dir, ts=now(self.clock)),
        }
        await self.client.patch_status("nodes", cfg.name, {"status": status})
        self.ready = ok

    def _lease(self) -> Obj:
        meta: Obj = {"name": self.config.name, "namespace": LEASE_NAMESPACE}
        if self.uid:
            meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node",
                                        "name": self.config.name, "uid": self.uid}]
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                "spec": {"holderIdentity": self.config.name, "leaseDurationSeconds": 40,
                         "renewTime": now_micro(self.clock)}}

    async def renew_lease(self) -> None:
        try:
            await self.client.patch("leases", self.config.name, namespace=LEASE_NAMESPACE,
                                    patch={"spec": {"holderIdentity": self.config.name,
                                                    "renewTime": now_micro(self.clock)}})
        except NotFound:
            await self.client.create("leases", self._lease(), namespace=LEASE_NAMESPACE)

    async def run(self) -> None:
        """Heartbeat forever (errors are logged and retried at the next tick)."""
        last_status = last_lease = -float("inf")
        while True:
            try:
                if self.clock.monotonic() - last_lease >= self.lease_interval:
                    await self.renew_lease()
                    last_lease = self.clock.monotonic()
                due = self.clock.monotonic() - last_status >= self.status_interval
                if not due and not self.ready:  # fast updates until Ready
                    due = (await self._runtime_state())[0]
                if due:
                    await self.update_status()
                    last_status = self.clock.monotonic()
            except (ApiError, OSError) as exc:
                log.warning("node heartbeat failed: %s", exc)
            tick = min(self.lease_interval, self.status_interval)
            await self.clock.sleep(tick if self.ready else min(tick, self.fast_interval))
