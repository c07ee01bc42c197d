"""``Kubelet``: binds the API (informers, status patches, events) to per-pod workers.

Informers watch this node's pods (``spec.nodeName=<node>``), the Nodes, and PersistentVolumes
(to remove deleted local-path volumes' data, :mod:`.localpath`). ConfigMaps and
Secrets are read by name (the Node authorizer allows a kubelet nothing else) before every sync
of a pod that references them, so changes reach env of new containers and volume files within
one resync period. Handlers only wake pod tasks; each pod has exactly one task running its
:class:`~kboot.controlplane.kubelet.sync.PodWorker` sequentially, re-syncing on events and
every ``resync`` seconds (sooner while containers are settling). A pod with a
deletionTimestamp is terminated with its grace period, its node state removed (volumes,
cgroup, log directory), then deleted with grace 0 — the last step of graceful deletion.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kboot.controlplane.api.selectors import field_equals
from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client import ApiClient, ApiError, NotFound
from kboot.controlplane.client.api import DeleteOptions
from kboot.controlplane.client.clock import REAL_CLOCK, Clock, wait_event
from kboot.controlplane.client.events import EventRecorder
from kboot.controlplane.client.informer import Handlers, Informers
from kboot.controlplane.client.meta import parse_time
from kboot.controlplane.kubelet import network, podspec, resourcemetrics
from kboot.controlplane.kubelet.cgroups import remove_cgroup
from kboot.controlplane.kubelet.claims import resolve_claims
from kboot.controlplane.kubelet.cri.types import ContainerStatus, Runtime, RuntimeError_
from kboot.controlplane.kubelet.localpath import LocalPathCleaner
from kboot.controlplane.kubelet.node import NodeAgent, NodeConfig
from kboot.controlplane.kubelet.server import ContainerRef
from kboot.controlplane.kubelet.sync import PodWorker, WorkerSettings
from kboot.controlplane.kubelet.volumes import VolumeManager

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KubeletConfig:
    node: NodeConfig
    worker: WorkerSettings
    cni_conf_dir: str = ""  # empty: never write a CNI config
    manage_routes: bool = True
    routes_netns: str = ""  # apply host-gw routes in this network namespace (lab, tests)
    resync: float = 5.0
    local_path_dir: str = "/var/lib/kboot/local-path"


YOUNG = 10.0  # seconds after a container starts during which its pod is re-synced often


def _settling(status: Obj, now: float) -> bool:
    """Whether the pod should be looked at again soon (0.5 s, not ``resync``): containers not
    yet running and ready, or started in the last ``YOUNG`` seconds — without container events
    from the runtime, that is how a short-lived container's exit (a Job, a smoke test) is seen
    within a second."""
    for st in status.get("containerStatuses") or []:
        running = st["state"].get("running")
        if running is None or not st["ready"]:
            return True
        started = parse_time(running.get("startedAt"))
        if started is not None and now - started < YOUNG:
            return True
    return status.get("phase") == "Pending"


class Kubelet:
    """The node agent: create inside a running loop, then ``await run()``."""

    def __init__(self, client: ApiClient, runtime: Runtime, config: KubeletConfig, *,
                 clock: Clock = REAL_CLOCK) -> None:
        self.client, self.runtime, self.config = client, runtime, config
        self.clock = clock  # resyncs, back-offs, probes, heartbeats and timestamps
        name = config.node.name
        self.informers = Informers(client, clock=clock)
        self.pods = self.informers.get("pods",
                                       field_selector=field_equals("spec.nodeName", name))
        self._objects: dict[tuple[str, str, str], Obj | None] = {}  # (plural, ns, name)
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}  # -> (token, expiry)
        self.nodes = self.informers.get("nodes")
        self.service_informer = self.informers.get("services")  # service env variables
        self.cleaner = LocalPathCleaner(client, self.informers.get("persistentvolumes"),
                                        node=name, base=config.local_path_dir)
        self.recorder = EventRecorder(client, "kubelet", host=name, clock=clock)
        self.volumes = VolumeManager(config.node.root_dir)
        self.node_agent = NodeAgent(client, runtime, config.node, clock=clock)
        self.workers: dict[str, PodWorker] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._keys: dict[str, str] = {}  # uid -> namespace/name
        self._background: set[asyncio.Task[None]] = set()

    # -- podspec.Lookup ------------------------------------------------------------------------

    async def _prefetch(self, pod: Obj) -> None:
        ns = pod["metadata"].get("namespace", "default")
        for plural, name in podspec.references(pod):
            try:
                self._objects[(plural, ns, name)] = await self.client.get(plural, name,
                                                                          namespace=ns)
            except NotFound:
                self._objects[(plural, ns, name)] = None
            except ApiError as exc:  # keep what we had; a missing entry reads as absent
                log.warning("pod %s: reading %s %s/%s: %s", pod["metadata"]["name"], plural,
                            ns, name, exc)

    async def _prefetch_tokens(self, pod: Obj) -> None:
        """ServiceAccount tokens for projected volumes (TokenRequest), renewed at 80 %."""
        ns = pod["metadata"].get("namespace", "default")
        sa = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            for src in (vol.get("projected") or {}).get("sources") or []:
                tok = src.get("serviceAccountToken")
                key = (ns, sa, (tok or {}).get("audience", ""))
                if tok is None or self._tokens.get(key, ("", 0.0))[1] > self.clock.monotonic():
                    continue
                seconds = int(tok.get("expirationSeconds", 3600))
                body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                        "spec": {"audiences": [key[2]] if key[2] else [],
                                 "expirationSeconds": seconds,
                                 "boundObjectRef": {"apiVersion": "v1", "kind": "Pod",
                                                    "name": pod["metadata"]["name"],
                                                    "uid": pod["metadata"]["uid"]}}}
                try:
                    resp = await self.client.create_subresource("serviceaccounts", sa, "token",
                                                                body, namespace=ns)
                except (ApiError, KeyError) as exc:
                    log.debug("no token for %s/%s: %s", ns, sa, exc)
                    continue
                self._tokens[key] = (resp["status"]["token"],
                                     self.clock.monotonic() + seconds * 0.8)

    def token(self, namespace: str, service_account: str, audience: str) -> str | None:
        found = self._tokens.get((namespace, service_account, audience))
        return found[0] if found else None

    def services(self) -> list[Obj]:
        """Every Service known (:class:`serviceenv.ServiceLister`)."""
        return self.service_informer.objects()

    def configmap(self, namespace: str, name: str) -> Mapping[str, str] | None:
        obj = self._objects.get(("configmaps", namespace, name))
        if obj is None:
            return None
        data = dict(obj.get("data") or {})
        for key, value in (obj.get("binaryData") or {}).items():
            data[key] = base64.b64decode(value).decode(errors="replace")
        return data

    def secret(self, namespace: str, name: str) -> Mapping[str, bytes] | None:
        obj = self._objects.get(("secrets", namespace, name))
        if obj is None:
            return None
        data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        data.update({k: v.encode() for k, v in (obj.get("stringData") or {}).items()})
        return data

    # -- wiring --------------------------------------------------------------------------------

    def _on_pod(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        self._keys[uid] = f"{pod['metadata'].get('namespace', 'default')}/{pod['metadata']['name']}"
        if pod["metadata"].get("deletionTimestamp"):
            self._abort_post_start(uid)
        self.wake(uid)
        if uid not in self._tasks:
            self._tasks[uid] = asyncio.create_task(self._pod_loop(uid))

    def wake(self, uid: str) -> None:
        self._wake.setdefault(uid, asyncio.Event()).set()

    def _on_node(self, node: Obj) -> None:
        if node["metadata"]["name"] == self.config.node.name and self.config.cni_conf_dir:
            cidr = (node.get("spec") or {}).get("podCIDR")
            if cidr:
                network.write_conflist(self.config.cni_conf_dir, cidr)
        if self.config.manage_routes:
            netns = self.config.routes_netns
            task = asyncio.create_task(network.sync_routes(
                self.nodes.objects(), self.config.node.name,
                prefix=["nsenter", f"--net={netns}"] if netns else ()))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def run(self) -> None:
        await self.node_agent.register()
        self.pods.add_handlers(Handlers(on_add=self._on_pod, on_update=lambda _o, n:
                                        self._on_pod(n), on_delete=self._on_pod_deleted))
        self.nodes.add_handlers(Handlers(on_add=self._on_node,
                                         on_update=lambda _o, n: self._on_node(n)))
        self.informers.start()
        heartbeat = asyncio.create_task(self.node_agent.run())
        try:
            await self.informers.wait_synced()
            await self._remove_orphans()
            await asyncio.Event().wait()
        finally:
            heartbeat.cancel()
            for task in self._tasks.values():
                task.cancel()
            await self.informers.stop()

    def _on_pod_deleted(self, pod: Obj) -> None:
        self._abort_post_start(pod["metadata"]["uid"])
        self.wake(pod["metadata"]["uid"])

    def _abort_post_start(self, uid: str) -> None:
        worker = self.workers.get(uid)
        if worker is not None:
            worker.abort_post_start()

    async def _remove_orphans(self) -> None:
        """Sandboxes of pods that no longer exist (e.g. deleted while we were down)."""
        live = {p["metadata"]["uid"] for p in self.pods.objects()}
        for sb in await self.runtime.list_sandboxes():
            if sb.labels.get(podspec.LABEL_UID) and sb.uid not in live:
                log.info("removing orphaned sandbox %s of %s/%s", sb.id, sb.namespace, sb.name)
                with contextlib.suppress(RuntimeError_):
                    await self.runtime.stop_sandbox(sb.id)
                    await self.runtime.remove_sandbox(sb.id)
                node = self.config.worker.node
                remove_cgroup(f"{node.cgroup_root}/pod{sb.uid}")
                shutil.rmtree(f"{node.log_root}/{sb.namespace}_{sb.name}_{sb.uid}",
                              ignore_errors=True)
                self.volumes.teardown(sb.uid)

    # -- server.Containers ----------------------------------------------------------------------

    async def find_container(self, namespace: str, pod: str, container: str
                             ) -> ContainerRef | None:
        """From the pod's worker; right after a kubelet restart, from the runtime itself."""
        obj = self.pods.get(f"{namespace}/{pod}")
        if obj is None:
            return None
        base = Path(podspec.log_directory(obj, self.config.worker.node.log_root)) / container
        worker = self.workers.get(obj["metadata"]["uid"])
        rec = worker.records.get(container) if worker else None
        if rec is not None and rec.container_id:
            cid, attempt, running = rec.container_id, rec.restarts, rec.running
        else:
            found = sorted((c for c in await self.runtime.list_containers(labels={
                podspec.LABEL_UID: obj["metadata"]["uid"], podspec.LABEL_CONTAINER: container})),
                key=lambda c: c.attempt)
            if not found:
                return None
            cid, attempt, running = found[-1].id, found[-1].attempt, found[-1].state == "running"
        previous = base / f"{attempt - 1}.log" if attempt else None
        return ContainerRef(container_id=cid, log_path=base / f"{attempt}.log",
                            previous_log_path=previous, running=running)

    async def resource_metrics(self) -> str:
        """``/metrics/resource``: this node's and its running containers' usage (cgroups)."""
        listed = [c for c in await self.runtime.list_containers()
                  if c.state == "running" and podspec.LABEL_UID in c.labels]
        started = await asyncio.gather(*(self._started_ns(c) for c in listed))
        running = [resourcemetrics.ContainerId(
            c.labels.get(podspec.LABEL_NAMESPACE, ""), c.labels.get(podspec.LABEL_NAME, ""),
            c.labels.get(podspec.LABEL_UID, ""), c.labels.get(podspec.LABEL_CONTAINER, ""), c.id,
            started_ns=at) for c, at in zip(listed, started, strict=True)]
        return await asyncio.to_thread(resourcemetrics.scrape, running,
                                       self.config.worker.node.cgroup_root,
                                       int(time.time() * 1000))

    async def _started_ns(self, listed: ContainerStatus) -> int:
        """When a running container started: CRI ListContainers carries no ``started_at``, so ask
        its status; 0 when it is gone meanwhile (its start-time series is then left out)."""
        if listed.started_at:
            return listed.started_at
        try:
            return (await self.runtime.container_status(listed.id)).started_at
        except RuntimeError_:
            return 0

    async def attach_url(self, container_id: str, *, stdin: bool, tty: bool, stdout: bool,
                         stderr: bool) -> str:
        return await self.runtime.attach(container_id, stdin=stdin, tty=tty, stdout=stdout,
                                         stderr=stderr)

    async def is_running(self, container_id: str) -> bool:
        try:
            return (await self.runtime.container_status(container_id)).state == "running"
        except RuntimeError_:
            return False

    async def pod_netns(self, namespace: str, pod: str) -> str | None:
        """Where port-forward dials: the network namespace of the pod's live sandbox."""
        obj = self.pods.get(f"{namespace}/{pod}")
        worker = self.workers.get(obj["metadata"]["uid"]) if obj is not None else None
        if worker is None or not worker.sandbox_id or worker.terminal:
            return None
        try:
            return await self.runtime.sandbox_netns(worker.sandbox_id)
        except RuntimeError_:
            return None

    # -- one pod ------------------------------------------------------------------------------

    def _current(self, uid: str) -> Obj | None:
        pod = self.pods.get(self._keys.get(uid, ""))
        return pod if pod is not None and pod["metadata"]["uid"] == uid else None

    async def _pod_loop(self, uid: str) -> None:
        worker = PodWorker(self.runtime, self.volumes, self.config.worker,
                           events=self.recorder.event, wake=lambda: self.wake(uid),
                           clock=self.clock)
        self.workers[uid] = worker
        last: Obj | None = None
        seen: Obj | None = None
        try:
            while True:
                event = self._wake.setdefault(uid, asyncio.Event())
                event.clear()
                pod = self._current(uid)
                if pod is None or pod["metadata"].get("deletionTimestamp"):
                    await self._finish(worker, pod or seen, delete=pod is not None)
                    return
                seen = pod
                last = await self._sync_once(worker, pod, last)
                delay = 0.5 if _settling(last, self.clock.time()) else self.config.resync
                await wait_event(self.clock, event, delay)
        except asyncio.CancelledError:
            worker.stop_probes()
            raise
        finally:
            self.workers.pop(uid, None)
            self._tasks.pop(uid, None)
            self._wake.pop(uid, None)

    async def _sync_once(self, worker: PodWorker, pod: Obj, last: Obj | None) -> Obj:
        if last is not None:
            pod = {**pod, "status": last}
        try:
            await self._prefetch(pod)
            await self._prefetch_tokens(pod)
            claims = await resolve_claims(self.client, pod)
            status = await worker.sync(pod, self, claims=claims)
        except ApiError as exc:
            log.warning("pod %s: %s", pod["metadata"]["name"], exc)
            return last or {}
        if status != last:
            meta = pod["metadata"]
            try:
                await self.client.patch_status("pods", meta["name"], {"status": status},
                                               namespace=meta.get("namespace"))
            except NotFound:
                pass
            except ApiError as exc:
                log.warning("pod %s: status update failed: %s", meta["name"], exc)
                return last or {}
        return status

    async def _finish(self, worker: PodWorker, pod: Obj | None, *, delete: bool) -> None:
        if pod is None:
            return
        meta, spec = pod["metadata"], pod.get("spec") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30) if delete else 0
        await worker.terminate(pod, int(grace))
        node = self.config.worker.node
        remove_cgroup(f"{node.cgroup_root}/pod{meta['uid']}")
        shutil.rmtree(podspec.log_directory(pod, node.log_root), ignore_errors=True)
        if delete:
            with contextlib.suppress(NotFound):
                await self.client.delete("pods", meta["name"], namespace=meta.get("namespace"),
                                         options=DeleteOptions(grace_period_seconds=0,
                                                               preconditions={"uid": meta["uid"]}))
