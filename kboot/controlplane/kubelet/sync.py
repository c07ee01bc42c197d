"""``PodWorker``: converges one pod's containers in the runtime to its spec, sequentially.

Level-triggered: each :meth:`PodWorker.sync` reads the runtime's current state, takes at most one
step per container (start, restart after back-off, kill after a failed liveness probe) and
returns the pod status to report. Init containers run one at a time, in order, before any app
container. Restarts follow ``restartPolicy`` with exponential back-off (``CrashLoopBackOff``):
the first restart is immediate, then ``backoff_initial`` doubling up to ``backoff_max``.
:meth:`PodWorker.terminate` stops everything with the grace period and cleans up the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.clock import REAL_CLOCK, Clock
from kboot.controlplane.client.meta import now
from kboot.controlplane.kubelet import (
    ephemeral,
    hooks,
    logs,
    podspec,
    pullhints,
    pullsecrets,
    serviceenv,
)
from kboot.controlplane.kubelet.cri.types import (
    NotFoundError,
    Runtime,
    RuntimeError_,
    SandboxConfig,
)
from kboot.controlplane.kubelet.records import Record
from kboot.controlplane.kubelet.status import ContainerView, container_status, pod_status
from kboot.controlplane.kubelet.volumes import VolumeManager, VolumeNotReady, container_mounts

log = logging.getLogger(__name__)
EventSink = Callable[[Obj, str, str, str], None]  # (pod, type, reason, message)


@dataclass(frozen=True)
class WorkerSettings:
    node: podspec.NodeSettings = field(default_factory=podspec.NodeSettings)
    host_ip: str = ""
    backoff_initial: float = 10.0
    backoff_max: float = 300.0
    log_max_bytes: int = 10 * 2**20  # upstream's containerLogMaxSize
    log_max_files: int = 5
    # containerd's hosts.toml directory: a failed pull names the registries it went to
    registry_hosts_dir: str = "/etc/containerd/certs.d"


def _grace(pod: Obj) -> int:
    """The grace period of a kill the pod's deletion did not ask for (upstream's default)."""
    return int((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))


def _key(pod: Obj) -> str:
    return f"{pod['metadata'].get('namespace', 'default')}/{pod['metadata']['name']}"


def _should_restart(policy: str, exit_code: int) -> bool:
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


class PodWorker:
    """Owns one pod (by UID) on this node; never runs two syncs at once.

    Back-offs, probe periods and the timestamps it reports run on ``clock``.
    """

    def __init__(self, runtime: Runtime, volumes: VolumeManager, settings: WorkerSettings, *,
                 events: EventSink, wake: Callable[[], None] = lambda: None,
                 clock: Clock = REAL_CLOCK) -> None:
        self.runtime, self.volumes, self.settings = runtime, volumes, settings
        self.clock = clock
        self.events, self.wake = events, wake
        self.sandbox_id = ""
        self.sandbox: SandboxConfig | None = None
        self.pod_ip = ""
        self.start_time = ""
        self.records: dict[str, Record] = {}
        self.init_done = False
        self.init_failed = False
        self.terminal = False  # Succeeded/Failed: sandbox stopped, containers kept for logs
        self.adopted = False
        self.sandbox_backoff = self.sandbox_not_before = 0.0
        self.frozen: Obj | None = None  # status of a pod found finished by a restarted kubelet
        self.post_starts: set[asyncio.Task[None]] = set()  # postStart hooks running now
        self.lock = asyncio.Lock()

    def record(self, name: str) -> Record:
        return self.records.setdefault(name, Record(name))

    # -- the sync step ------------------------------------------------------------------------

    async def sync(self, pod: Obj, lookup: podspec.Lookup, *,
                   claims: Mapping[str, str] | None = None) -> Obj:
        async with self.lock:
            spec = pod.get("spec") or {}
            if not self.start_time:
                self.start_time = now(self.clock)
            if not self.adopted:
                await self._adopt(pod)
            if self.frozen is not None:
                return self.frozen
            if self.terminal:
                return self.status(pod)
            try:
                paths = self.volumes.setup(pod, lookup, claims=claims, pod_ip=self.pod_ip)
            except VolumeNotReady as exc:
                self._wait_all(spec, "ContainerCreating", str(exc))
                return self.status(pod)
            except (podspec.ContainerConfigError, OSError) as exc:
                self._wait_all(spec, "CreateContainerConfigError", str(exc))
                return self.status(pod)
            if not await self._ensure_sandbox(pod):
                return self.status(pod)
            await self._refresh()
            await self._init_containers(pod, lookup, paths)
            if self.init_done and not self.init_failed:
                for container in spec.get("containers") or []:
                    await self._step(pod, container, lookup, paths)
                await self._ephemeral(pod, lookup, paths)
            await self._rotate_logs(pod)
            status = self.status(pod)
            if status["phase"] in ("Succeeded", "Failed"):
                await self._finish_terminal()
            return status

    async def _ephemeral(self, pod: Obj, lookup: podspec.Lookup,
                         paths: Mapping[str, str]) -> None:
        launches, waiting = ephemeral.to_start(pod.get("spec") or {}, self.records)
        for name, reason in waiting.items():
            rec = self.record(name)
            rec.waiting_reason, rec.waiting_message = "ContainerCreating", reason
        for launch in launches:
            await self._start(pod, launch.container, lookup, paths, target_id=launch.target_id)

    async def _rotate_logs(self, pod: Obj) -> None:
        base = Path(podspec.log_directory(pod, self.settings.node.log_root))
        stamp = self.clock.now().strftime("%Y%m%d-%H%M%S")
        for rec in self.records.values():
            path = base / rec.name / f"{rec.restarts}.log"
            if rec.running and logs.rotate(path, max_bytes=self.settings.log_max_bytes,
                                           keep=self.settings.log_max_files - 1, stamp=stamp):
                with contextlib.suppress(RuntimeError_):
                    await self.runtime.reopen_container_log(rec.container_id)

    async def _finish_terminal(self) -> None:
        """A pod that will run nothing more gives back its sandbox (and IP) but keeps logs."""
        self.terminal = True
        self.stop_probes()
        with contextlib.suppress(RuntimeError_):
            await self.runtime.stop_sandbox(self.sandbox_id)

    async def _adopt(self, pod: Obj) -> None:
        """After a kubelet restart: take over the pod's live sandbox and containers."""
        self.adopted = True
        uid = pod["metadata"]["uid"]
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            self.frozen, self.terminal = dict(pod["status"]), True
            return
        ready = sorted((s for s in await self.runtime.list_sandboxes(
            labels={podspec.LABEL_UID: uid}) if s.state == "ready"), key=lambda s: s.created_at)
        if not ready:
            return
        sb = ready[-1]
        self.sandbox_id, self.pod_ip = sb.id, (await self.runtime.sandbox_status(sb.id)).ip
        self.sandbox = podspec.sandbox_config(pod, self.settings.node, attempt=sb.attempt)
        spec = pod.get("spec") or {}
        by_name = {c["name"]: c for c in [*(spec.get("initContainers") or []),
                                          *(spec.get("containers") or [])]}
        found = sorted(await self.runtime.list_containers(sandbox_id=sb.id),
                       key=lambda c: c.attempt)
        for c in found:
            rec = self.record(c.name)
            rec.previous = rec.current
            rec.restarts, rec.container_id = c.attempt, c.id
            rec.current = await self.runtime.container_status(c.id)
        for name, rec in self.records.items():
            if rec.running and name in by_name:
                self._start_probes(pod, by_name[name], rec)
        log.info("adopted sandbox %s of pod %s", sb.id, pod["metadata"]["name"])

    def _wait_all(self, spec: Obj, reason: str, message: str) -> None:
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            rec = self.record(c["name"])
            if rec.current is None or rec.current.state != "running":
                rec.waiting_reason, rec.waiting_message = reason, message

    async def _ensure_sandbox(self, pod: Obj) -> bool:
        """A ready sandbox, replacing a dead one; failures back off (1 s doubling to 30 s)."""
        if self.sandbox_id:
            with contextlib.suppress(NotFoundError):
                st = await self.runtime.sandbox_status(self.sandbox_id)
                if st.state == "ready":
                    return True
            with contextlib.suppress(RuntimeError_):  # its containers died with it
                await self.runtime.stop_sandbox(self.sandbox_id)
                await self.runtime.remove_sandbox(self.sandbox_id)
            self.sandbox_id = ""
        if self.clock.monotonic() < self.sandbox_not_before:
            return False
        attempt = self.sandbox.attempt + 1 if self.sandbox else 0
        cfg = podspec.sandbox_config(pod, self.settings.node, attempt=attempt)
        try:
            self.sandbox_id = await self.runtime.run_sandbox(cfg)
            self.pod_ip = (await self.runtime.sandbox_status(self.sandbox_id)).ip
            if cfg.host_network:
                self.pod_ip = self.settings.host_ip
        except RuntimeError_ as exc:
            self.events(pod, "Warning", "FailedCreatePodSandBox", str(exc))
            self._wait_all(pod.get("spec") or {}, "ContainerCreating", str(exc))
            self.sandbox_backoff = min(30.0, self.sandbox_backoff * 2 or 1.0)
            self.sandbox_not_before = self.clock.monotonic() + self.sandbox_backoff
            return False
        self.sandbox, self.sandbox_backoff = cfg, 0.0
        for rec in self.records.values():  # a new sandbox means new containers
            rec.current, rec.container_id = None, ""
        return True

    async def _refresh(self) -> None:
        """One ListContainers; ContainerStatus only for containers whose state changed."""
        if not self.sandbox_id:
            return
        listed = {c.id: c for c in await self.runtime.list_containers(sandbox_id=self.sandbox_id)}
        for rec in self.records.values():
            summary = listed.get(rec.container_id) if rec.container_id else None
            if summary is None:
                rec.current, rec.container_id = None, ""
                continue
            if rec.current is not None and rec.current.state == summary.state:
                continue
            try:
                rec.current = await self.runtime.container_status(rec.container_id)
            except NotFoundError:
                rec.current, rec.container_id = None, ""

    async def _init_containers(self, pod: Obj, lookup: podspec.Lookup,
                               paths: Mapping[str, str]) -> bool:
        spec = pod.get("spec") or {}
        for container in spec.get("initContainers") or []:
            rec = self.record(container["name"])
            cur = rec.current
            if cur is not None and cur.state == "exited" and cur.exit_code == 0:
                continue
            if cur is not None and cur.state == "exited":
                if spec.get("restartPolicy", "Always") == "Never":
                    self.init_failed = True
                    return False
                await self._restart(pod, container, lookup, paths)
            elif cur is None:
                await self._start(pod, container, lookup, paths)
            return False
        self.init_done = True
        return True

    async def _step(self, pod: Obj, container: Obj, lookup: podspec.Lookup,
                    paths: Mapping[str, str]) -> None:
        rec = self.record(container["name"])
        cur = rec.current
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        if cur is None:
            if rec.restarts and rec.previous is not None:
                await self._restart(pod, container, lookup, paths)
            else:
                await self._start(pod, container, lookup, paths)
        elif cur.state == "running" and not rec.live:
            probe_grace = (container.get("livenessProbe") or {}).get(
                "terminationGracePeriodSeconds")
            await self._kill(pod, container, rec, _grace(pod) if probe_grace is None
                             else int(probe_grace),
                             f"Container {rec.name} failed liveness probe, will be restarted")
            rec.current = await self.runtime.container_status(rec.container_id)
            if _should_restart(policy, 1):
                await self._restart(pod, container, lookup, paths)
        elif cur.state == "exited" and _should_restart(policy, cur.exit_code):
            await self._restart(pod, container, lookup, paths)

    async def _restart(self, pod: Obj, container: Obj, lookup: podspec.Lookup,
                       paths: Mapping[str, str]) -> None:
        rec = self.record(container["name"])
        moment = self.clock.monotonic()
        if moment < rec.not_before:
            rec.waiting_reason = "CrashLoopBackOff"
            rec.waiting_message = (f"back-off {rec.backoff:.0f}s restarting failed container="
                                   f"{rec.name} pod={pod['metadata']['name']}")
            return
        if rec.current is not None:
            rec.previous = rec.current
        rec.restarts += 1
        rec.backoff = (min(self.settings.backoff_max, rec.backoff * 2) if rec.backoff
                       else self.settings.backoff_initial)
        rec.not_before = moment + rec.backoff
        await self._start(pod, container, lookup, paths)

    async def _pull_if_needed(self, pod: Obj, container: Obj, rec: Record,
                              lookup: podspec.Lookup) -> bool:
        image, policy = container["image"], container.get("imagePullPolicy", "IfNotPresent")
        if self.clock.monotonic() < rec.pull_not_before:
            rec.waiting_reason = "ImagePullBackOff"
            rec.waiting_message = f"Back-off pulling image \"{image}\""
            return False
        try:
            present = await self.runtime.image_status(image)
            if present is not None and policy != "Always":
                self.events(pod, "Normal", "Pulled",
                            f"Container image \"{image}\" already present on machine")
                return True
            if policy == "Never":
                raise RuntimeError_(f"image {image} not present with pull policy of Never")
            self.events(pod, "Normal", "Pulling", f"Pulling image \"{image}\"")
            await self._pull(pod, image, lookup)
            return True
        except RuntimeError_ as exc:
            reason = "ErrImageNeverPull" if policy == "Never" else "ErrImagePull"
            message = str(exc) + pullhints.resolved_through(image,
                                                            self.settings.registry_hosts_dir)
            rec.waiting_reason, rec.waiting_message = reason, message
            self.events(pod, "Warning", "Failed", f"Failed to pull image \"{image}\": {message}")
            rec.pull_backoff = min(self.settings.backoff_max, rec.pull_backoff * 2 or
                                   self.settings.backoff_initial)
            rec.pull_not_before = self.clock.monotonic() + rec.pull_backoff
            return False

    async def _pull(self, pod: Obj, image: str, lookup: podspec.Lookup) -> None:
        """Anonymous without matching pull secrets; else each matching credential in turn
        (the last failure is the error), as upstream's keyring."""
        ns = pod["metadata"].get("namespace", "default")
        found = [lookup.secret(ns, ref.get("name") or "")
                 for ref in (pod.get("spec") or {}).get("imagePullSecrets") or []]
        creds = pullsecrets.credentials(image, [s for s in found if s is not None])
        if not creds:
            await self.runtime.pull_image(image)
            return
        for i, cred in enumerate(creds):
            try:
                await self.runtime.pull_image(image, cred)
                return
            except RuntimeError_:
                if i == len(creds) - 1:
                    raise

    async def _start(self, pod: Obj, container: Obj, lookup: podspec.Lookup,
                     paths: Mapping[str, str], *, target_id: str = "") -> None:
        rec = self.record(container["name"])
        if self.sandbox is None or not await self._pull_if_needed(pod, container, rec, lookup):
            return
        try:
            envs = podspec.resolve_env(pod, container, lookup, pod_ip=self.pod_ip,
                                       service_env=serviceenv.pod_service_env(pod, lookup))
            cfg = podspec.container_config(pod, container, attempt=rec.restarts, envs=envs,
                                           mounts=container_mounts(container, paths),
                                           target_id=target_id)
        except podspec.ContainerConfigError as exc:
            rec.waiting_reason, rec.waiting_message = "CreateContainerConfigError", str(exc)
            return
        await self._remove_old(rec)
        try:
            cid = await self.runtime.create_container(self.sandbox_id, cfg, self.sandbox)
            rec.container_id = cid
            self.events(pod, "Normal", "Created", f"Created container {rec.name}")
            await self.runtime.start_container(cid)
        except RuntimeError_ as exc:
            rec.waiting_reason, rec.waiting_message = "RunContainerError", str(exc)
            self.events(pod, "Warning", "Failed", f"Error: {exc}")
            return
        rec.waiting_reason = rec.waiting_message = ""
        rec.current = await self.runtime.container_status(cid)
        self.events(pod, "Normal", "Started", f"Started container {rec.name}")
        if await self._post_start(pod, container, rec):
            self._start_probes(pod, container, rec)

    async def _post_start(self, pod: Obj, container: Obj, rec: Record) -> bool:
        """Run the container's postStart hook, if any, before the sync goes on (the container
        is reported running only afterwards). A failed hook kills the container, which then
        restarts per ``restartPolicy``; a hook aborted by the pod's deletion just ends."""
        handler = (container.get("lifecycle") or {}).get("postStart")
        if not isinstance(handler, dict):
            return True
        task = asyncio.create_task(hooks.run_hook(
            handler, runtime=self.runtime, container_id=rec.container_id, container=container,
            pod_name=_key(pod), pod_ip=self.pod_ip, clock=self.clock))
        self.post_starts.add(task)
        try:
            await asyncio.wait({task})
        finally:
            self.post_starts.discard(task)
            task.cancel()  # (when this sync itself is cancelled)
        if task.cancelled():
            return False
        error = task.exception()
        if error is None:
            return True
        log.warning("pod %s: %s", _key(pod), error)
        self.events(pod, "Warning", "FailedPostStartHook", "PostStartHook failed")
        await self._kill(pod, container, rec, _grace(pod), "FailedPostStartHook")
        with contextlib.suppress(RuntimeError_):
            rec.current = await self.runtime.container_status(rec.container_id)
        if _should_restart((pod.get("spec") or {}).get("restartPolicy", "Always"), 1):
            rec.waiting_reason, rec.waiting_message = "PostStartHookError", str(error)
        return False

    def abort_post_start(self) -> None:
        """The pod is being deleted: stop waiting for its postStart hooks (upstream cancels
        the sync), so :meth:`terminate` is not held up by a hook that never returns."""
        for task in self.post_starts:
            task.cancel()

    async def _remove_old(self, rec: Record) -> None:
        """Keep only the previous instance (for ``logs --previous``); remove older ones."""
        if self.sandbox_id:
            for c in await self.runtime.list_containers(sandbox_id=self.sandbox_id):
                if c.name == rec.name and c.attempt < rec.restarts - 1:
                    with contextlib.suppress(RuntimeError_):
                        await self.runtime.remove_container(c.id)

    # -- probes -------------------------------------------------------------------------------

    def _start_probes(self, pod: Obj, container: Obj, rec: Record) -> None:
        def unhealthy() -> None:
            self.events(pod, "Warning", "Unhealthy", f"Liveness probe failed for {rec.name}")

        rec.start_probes(container, runtime=self.runtime, pod_ip=self.pod_ip,
                         on_unhealthy=unhealthy, wake=self.wake, clock=self.clock)

    def stop_probes(self) -> None:
        for rec in self.records.values():
            rec.stop_probes()

    # -- status and termination -----------------------------------------------------------------

    def _view(self, container: Obj) -> ContainerView:
        rec = self.record(container["name"])
        running = rec.running
        return ContainerView(
            name=rec.name, image=container["image"], restart_count=rec.restarts,
            ready=rec.ready and running, started=rec.started and running,
            waiting_reason=rec.waiting_reason, waiting_message=rec.waiting_message,
            current=rec.current, previous=rec.previous)

    def status(self, pod: Obj) -> Obj:
        spec = pod.get("spec") or {}
        status = pod_status(
            pod, init=[self._view(c) for c in spec.get("initContainers") or []],
            containers=[self._view(c) for c in spec.get("containers") or []],
            init_done=self.init_done, init_failed=self.init_failed, pod_ip=self.pod_ip,
            host_ip=self.settings.host_ip, start_time=self.start_time,
            now=now(self.clock))
        debug = [c for c in spec.get("ephemeralContainers") or [] if isinstance(c, dict)]
        if debug:  # outside pod_status: they count towards neither phase nor readiness
            status["ephemeralContainerStatuses"] = [
                container_status(self._view(c)) for c in debug]
        return status

    async def _kill(self, pod: Obj, container: Obj | None, rec: Record, grace: int,
                    message: str = "") -> None:
        """Upstream's killContainer: the ``preStop`` hook within *grace* seconds (none when
        *grace* is 0), then SIGTERM with what is left of it, but at least ``MINIMUM_GRACE``
        seconds, before SIGKILL."""
        if not (rec.container_id and rec.running):
            return
        self.events(pod, "Normal", "Killing", message or f"Stopping container {rec.name}")
        handler = ((container or {}).get("lifecycle") or {}).get("preStop")
        if isinstance(handler, dict) and grace > 0:
            grace -= await hooks.run_pre_stop(
                handler, grace, runtime=self.runtime, container_id=rec.container_id,
                container=container or {}, pod_name=_key(pod), pod_ip=self.pod_ip,
                clock=self.clock, on_failure=lambda: self.events(
                    pod, "Warning", "FailedPreStopHook", "PreStopHook failed"))
        with contextlib.suppress(RuntimeError_):
            await self.runtime.stop_container(rec.container_id,
                                              max(hooks.MINIMUM_GRACE, grace))

    async def terminate(self, pod: Obj, grace: int) -> None:
        """Kill every container (preStop hooks, SIGTERM, SIGKILL when *grace* s are up), all
        at once as upstream, then remove the sandbox."""
        self.abort_post_start()
        async with self.lock:
            self.stop_probes()
            await self._refresh()
            spec = pod.get("spec") or {}
            by_name = {c.get("name"): c for key in ("initContainers", "containers",
                                                     "ephemeralContainers")
                       for c in spec.get(key) or [] if isinstance(c, dict)}
            await asyncio.gather(*(self._kill(pod, by_name.get(r.name), r, grace)
                                   for r in self.records.values()))
            if self.sandbox_id:
                with contextlib.suppress(RuntimeError_):
                    await self.runtime.stop_sandbox(self.sandbox_id)
                with contextlib.suppress(RuntimeError_):
                    await self.runtime.remove_sandbox(self.sandbox_id)
            self.records = {k: replace(v, probes=[]) for k, v in self.records.items()}
            self.volumes.teardown(pod["metadata"]["uid"])
