"""A set of hollow nodes sharing one client, one pod informer and one workqueue.

Each node registers its Node (capacity, Ready condition, addresses, nodeInfo), renews its
Lease in ``kube-node-lease`` every ``heartbeat`` seconds (renewals spread over the interval),
and reconciles the pods bound to it: run them (see :mod:`.pods`), finish them, and complete
deletions with a grace-0 delete as a kubelet would. A node can be *paused* (silent: no
heartbeats, no pod updates) with :meth:`HollowCluster.pause` or by creating the file
``pause-<node>`` in the control directory; removing it resumes the node, which reports
Ready again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from dataclasses import dataclass, field
from pathlib import Path

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.api import ApiClient, DeleteOptions
from kboot.controlplane.client.clock import REAL_CLOCK, Clock
from kboot.controlplane.client.controller import DONE, Result, run_controller
from kboot.controlplane.client.errors import AlreadyExists, NotFound
from kboot.controlplane.client.informer import Handlers, Informer
from kboot.controlplane.client.meta import now, now_micro, parse_time
from kboot.controlplane.client.workqueue import WorkQueue
from kboot.controlplane.hollow import pods as podlib

log = logging.getLogger(__name__)
LEASE_NS = "kube-node-lease"


@dataclass(frozen=True)
class HollowOptions:
    cpu: str = "4"
    memory: str = "16Gi"
    max_pods: int = 110
    heartbeat: float = 10.0
    lease_duration: int = 40
    control_dir: Path | None = None
    workers: int = 16
    labels: dict[str, str] = field(default_factory=dict)


def node_body(name: str, index: int, opts: HollowOptions, *, ts: str) -> Obj:
    capacity = {"cpu": opts.cpu, "memory": opts.memory, "pods": str(opts.max_pods),
                "ephemeral-storage": "100Gi"}
    conditions = [{"type": t, "status": "False", "reason": f"KubeletHas{r}",
                   "lastHeartbeatTime": ts, "lastTransitionTime": ts}
                  for t, r in (("MemoryPressure", "SufficientMemory"),
                               ("DiskPressure", "NoDiskPressure"),
                               ("PIDPressure", "SufficientPID"))]
    conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                       "message": "kubelet is posting ready status (hollow)",
                       "lastHeartbeatTime": ts, "lastTransitionTime": ts})
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "kboot.io/hollow": "true", **opts.labels}},
        "spec": {},
        "status": {"capacity": capacity, "allocatable": capacity, "conditions": conditions,
                   "addresses": [{"type": "InternalIP", "address": host_ip(index)},
                                 {"type": "Hostname", "address": name}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                   "nodeInfo": {"kubeletVersion": "v1.32.0-hollow", "kubeProxyVersion": "",
                                "containerRuntimeVersion": "hollow://1.0",
                                "operatingSystem": "linux", "architecture": "amd64",
                                "osImage": "kboot hollow node", "kernelVersion": "",
                                "machineID": "", "systemUUID": "", "bootID": ""}},
    }


def host_ip(index: int) -> str:
    """A documentation-range address (never routed; only shown in status)."""
    return str(ipaddress.ip_address("198.18.0.0") + index + 1)


class HollowCluster:
    def __init__(self, client: ApiClient, names: list[str], opts: HollowOptions,
                 pods: Informer, nodes: Informer, *, clock: Clock = REAL_CLOCK) -> None:
        self.client, self.names, self.opts = client, names, opts
        self.clock = clock
        self.index = {n: i for i, n in enumerate(names)}
        self.paused: set[str] = set()
        self.pods, self.nodes = pods, nodes
        self._registered: dict[str, float] = {}
        self.queue = WorkQueue(base_delay=0.05, max_delay=5.0, clock=clock)
        self._ips: dict[str, int] = {}
        self.name = "hollow-pods"
        pods.add_handlers(Handlers(on_add=self._pod, on_update=lambda _o, n: self._pod(n)))

    # -- control ----------------------------------------------------------------------------

    def pause(self, name: str) -> None:
        self.paused.add(name)

    def resume(self, name: str) -> None:
        self.paused.discard(name)

    def _poll_control_dir(self) -> None:
        if self.opts.control_dir is None:
            return
        for name in self.names:
            flag = (self.opts.control_dir / f"pause-{name}").exists()
            if flag and name not in self.paused:
                log.info("hollow node %s paused", name)
                self.pause(name)
            elif not flag and name in self.paused:
                log.info("hollow node %s resumed", name)
                self.resume(name)

    # -- nodes and leases -------------------------------------------------------------------

    async def register(self, name: str) -> None:
        body = node_body(name, self.index[name], self.opts, ts=now(self.clock))
        try:
            await self.client.create("nodes", body)
        except AlreadyExists:
            await self.client.patch_status("nodes", name, {"status": body["status"]})
        self._registered[name] = self.clock.monotonic()

    def _cidr(self, name: str) -> ipaddress.IPv4Network | None:
        """The node's podCIDR (from node IPAM); a private fallback if none comes in 10 s."""
        node = self.nodes.get(name) or {}
        cidr = (node.get("spec") or {}).get("podCIDR")
        if cidr:
            return ipaddress.IPv4Network(cidr)
        if self.clock.monotonic() - self._registered.get(name, 0.0) < 10.0:
            return None
        i = self.index[name]
        return ipaddress.IPv4Network(f"10.{200 + i // 256}.{i % 256}.0/24")

    async def heartbeat(self, name: str) -> None:
        ts = now_micro(self.clock)
        try:
            await self.client.patch("leases", name, {"spec": {"renewTime": ts}},
                                    namespace=LEASE_NS)
        except NotFound:
            await self.client.create("leases", {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": LEASE_NS},
                "spec": {"holderIdentity": name, "leaseDurationSeconds":
                         self.opts.lease_duration, "renewTime": ts}})

    async def ensure_ready(self, name: str) -> None:
        """After a pause the node controller may have marked us Unknown: report Ready."""
        node = await self.client.get("nodes", name)
        ready: Obj = next((c for c in (node.get("status") or {}).get("conditions") or []
                      if c.get("type") == "Ready"), {})
        if ready.get("status") != "True":
            await self.client.patch_status("nodes", name, {"status": node_body(
                name, self.index[name], self.opts, ts=now(self.clock))["status"]})

    async def _heartbeats(self) -> None:
        step = self.opts.heartbeat / max(1, len(self.names))
        while True:
            self._poll_control_dir()
            for name in self.names:
                if name in self.paused:
                    continue
                try:
                    await self.heartbeat(name)
                    await self.ensure_ready(name)
                except Exception as exc:
                    log.warning("hollow node %s: heartbeat failed: %s", name, exc)
                await self.clock.sleep(step)

    # -- pods -------------------------------------------------------------------------------

    def _pod(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName") in self.index:
            self.queue.add(f"{pod['metadata']['namespace']}/{pod['metadata']['name']}")

    def _pod_ip(self, node: str, net: ipaddress.IPv4Network) -> str:
        n = self._ips.get(node, 1) + 1
        if n >= net.num_addresses - 1:
            n = 2
        self._ips[node] = n
        return str(net.network_address + n)

    async def reconcile(self, key: str) -> Result:
        pod = self.pods.get(key)
        if pod is None:
            return DONE
        node = (pod.get("spec") or {}).get("nodeName")
        if node in self.paused:
            return Result(requeue_after=1.0)
        if node not in self.index:
            return DONE
        md = pod["metadata"]
        if md.get("deletionTimestamp"):
            with contextlib.suppress(NotFound):
                await self.client.delete("pods", md["name"], namespace=md["namespace"],
                                         options=DeleteOptions(grace_period_seconds=0))
            return DONE
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if phase in ("Succeeded", "Failed"):
            return DONE
        plan = podlib.exit_plan(pod)
        if phase != "Running":
            net = self._cidr(str(node))
            if net is None:  # like a kubelet waiting for its pod network
                return Result(requeue_after=0.5)
            await self._start(pod, str(node), net)
            return Result(requeue_after=plan[1]) if plan else DONE
        return await self._maybe_finish(pod, plan) if plan else DONE

    async def _start(self, pod: Obj, node: str, net: ipaddress.IPv4Network) -> None:
        md = pod["metadata"]
        new = podlib.running_status(pod, host_ip=host_ip(self.index[node]),
                                    pod_ip=self._pod_ip(node, net), ts=now(self.clock))
        await self.client.patch_status("pods", md["name"], namespace=md["namespace"],
                                       patch={"status": new})

    async def _maybe_finish(self, pod: Obj, plan: tuple[int, float]) -> Result:
        code, run = plan
        started = parse_time((pod.get("status") or {}).get("startTime")) or 0.0
        left = started + run - self.clock.time()
        if left > 0:
            return Result(requeue_after=left)
        md = pod["metadata"]
        await self.client.patch_status("pods", md["name"], namespace=md["namespace"],
                                       patch={"status": podlib.terminated_status(pod, code,
                                                                                 now(self.clock))})
        return DONE

    async def run(self, *, register_concurrency: int = 32) -> None:
        sem = asyncio.Semaphore(register_concurrency)

        async def reg(name: str) -> None:
            async with sem:
                await self.register(name)
        await asyncio.gather(*(reg(n) for n in self.names))
        log.info("registered %d hollow nodes", len(self.names))
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._heartbeats())
            tg.create_task(run_controller(self, self.queue, workers=self.opts.workers))
