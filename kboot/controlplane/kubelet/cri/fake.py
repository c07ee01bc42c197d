"""``FakeRuntime``: an in-memory :class:`Runtime` for the kubelet's unit tests.

Containers run until stopped, unless the test scripts them: ``exit_on_start[name] = code``
makes every start of container *name* exit at once with *code*; :meth:`exit` ends a running one;
``exec_exit[name]`` is the exit code ``exec_sync`` reports (probes, exec hooks). Every call is
recorded in ``calls`` as ``(method, container-or-pod name)`` so tests can assert order;
``stop_timeouts`` keeps each stop's grace period, ``execs`` each exec's command.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

from kboot.controlplane.client.clock import REAL_CLOCK, Clock
from kboot.controlplane.kubelet.cri.types import (
    ContainerConfig,
    ContainerStatus,
    ExecResult,
    ImageInfo,
    NotFoundError,
    PullAuth,
    RuntimeError_,
    SandboxConfig,
    SandboxStatus,
)


@dataclass
class _Container:
    status: ContainerStatus
    config: ContainerConfig


@dataclass
class FakeRuntime:
    images: set[str] = field(default_factory=lambda: {"kboot.io/busybox:1.35"})
    exit_on_start: dict[str, int] = field(default_factory=dict)
    exec_exit: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    stop_timeouts: list[tuple[str, int]] = field(default_factory=list)
    execs: list[tuple[str, list[str]]] = field(default_factory=list)
    sandboxes: dict[str, SandboxStatus] = field(default_factory=dict)
    sandbox_configs: dict[str, SandboxConfig] = field(default_factory=dict)
    containers: dict[str, _Container] = field(default_factory=dict)
    network_ready: bool = True  # what status() reports as NetworkReady (no CNI config yet: False)
    clock: Clock = REAL_CLOCK  # created/started/finished times are this clock's wall time
    # images a pull succeeds for: None = anonymously, a PullAuth = only with those credentials
    pullable: dict[str, PullAuth | None] = field(default_factory=dict)
    pull_auths: list[PullAuth | None] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _now_ns(self) -> int:
        return int(self.clock.time() * 1e9)

    def _id(self, kind: str) -> str:
        return f"{kind}{next(self._ids)}"

    async def version(self) -> tuple[str, str]:
        return "fake", "0.0.1"

    async def status(self) -> dict[str, bool]:
        return {"RuntimeReady": True, "NetworkReady": self.network_ready}

    async def run_sandbox(self, config: SandboxConfig) -> str:
        sid = self._id("sb")
        self.calls.append(("run_sandbox", config.name))
        n = len(self.sandboxes) + 2
        self.sandboxes[sid] = SandboxStatus(
            id=sid, name=config.name, namespace=config.namespace, uid=config.uid,
            attempt=config.attempt, state="ready", created_at=self._now_ns(),
            ip=f"10.244.0.{n}", labels=dict(config.labels))
        self.sandbox_configs[sid] = config
        return sid

    async def stop_sandbox(self, sandbox_id: str) -> None:
        self.calls.append(("stop_sandbox", sandbox_id))
        if sandbox_id in self.sandboxes:
            self.sandboxes[sandbox_id] = replace(self.sandboxes[sandbox_id], state="notready")
            for c in self.containers.values():
                if c.status.sandbox_id == sandbox_id and c.status.state == "running":
                    self._finish(c, 137, "Error")

    async def remove_sandbox(self, sandbox_id: str) -> None:
        self.calls.append(("remove_sandbox", sandbox_id))
        self.sandboxes.pop(sandbox_id, None)
        for cid in [k for k, c in self.containers.items() if c.status.sandbox_id == sandbox_id]:
            del self.containers[cid]

    async def sandbox_status(self, sandbox_id: str) -> SandboxStatus:
        if sandbox_id not in self.sandboxes:
            raise NotFoundError(sandbox_id, code="NOT_FOUND")
        return self.sandboxes[sandbox_id]

    async def sandbox_netns(self, sandbox_id: str) -> str:
        """Fake sandboxes share the test process's network namespace (path "")."""
        await self.sandbox_status(sandbox_id)
        return ""

    async def list_sandboxes(self, *, labels: dict[str, str] | None = None
                             ) -> list[SandboxStatus]:
        want = (labels or {}).items()
        return [s for s in self.sandboxes.values() if want <= s.labels.items()]

    async def create_container(self, sandbox_id: str, config: ContainerConfig,
                               sandbox: SandboxConfig) -> str:
        if config.image not in self.images:
            raise RuntimeError_(f"image {config.image} not found", code="NOT_FOUND")
        cid = self._id("c")
        self.calls.append(("create_container", config.name))
        self.containers[cid] = _Container(ContainerStatus(
            id=cid, name=config.name, attempt=config.attempt, state="created",
            sandbox_id=sandbox_id, created_at=self._now_ns(), image=config.image,
            image_ref="sha256:fake", log_path=config.log_path, labels=dict(config.labels)),
            config)
        return cid

    def _finish(self, c: _Container, code: int, reason: str) -> None:
        c.status = replace(c.status, state="exited", exit_code=code, reason=reason,
                           finished_at=self._now_ns())

    async def start_container(self, container_id: str) -> None:
        c = self.containers[container_id]
        self.calls.append(("start_container", c.config.name))
        c.status = replace(c.status, state="running", started_at=self._now_ns())
        if c.config.name in self.exit_on_start:
            code = self.exit_on_start[c.config.name]
            self._finish(c, code, "Completed" if code == 0 else "Error")

    def exit(self, name: str, code: int) -> None:
        """Make the running container called *name* exit with *code*."""
        for c in self.containers.values():
            if c.config.name == name and c.status.state == "running":
                self._finish(c, code, "Completed" if code == 0 else "Error")

    async def stop_container(self, container_id: str, timeout: int) -> None:
        c = self.containers.get(container_id)
        if c is None:
            return
        self.calls.append(("stop_container", c.config.name))
        self.stop_timeouts.append((c.config.name, timeout))
        if c.status.state == "running":
            self._finish(c, 143 if timeout else 137, "Error")

    async def remove_container(self, container_id: str) -> None:
        c = self.containers.pop(container_id, None)
        if c is not None:
            self.calls.append(("remove_container", c.config.name))

    async def list_containers(self, *, sandbox_id: str | None = None,
                              labels: dict[str, str] | None = None) -> list[ContainerStatus]:
        want = (labels or {}).items()
        return [c.status for c in self.containers.values()
                if (sandbox_id is None or c.status.sandbox_id == sandbox_id)
                and want <= c.status.labels.items()]

    async def container_status(self, container_id: str) -> ContainerStatus:
        if container_id not in self.containers:
            raise NotFoundError(container_id, code="NOT_FOUND")
        return self.containers[container_id].status

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: int) -> ExecResult:
        c = self.containers[container_id]
        self.calls.append(("exec_sync", c.config.name))
        self.execs.append((c.config.name, list(cmd)))
        return ExecResult(stdout=b"", stderr=b"", exit_code=self.exec_exit.get(c.config.name, 0))

    async def attach(self, container_id: str, *, stdin: bool, tty: bool, stdout: bool,
                     stderr: bool) -> str:
        c = await self.container_status(container_id)
        self.calls.append(("attach", c.name))
        return f"http://127.0.0.1:0/attach/{container_id}"

    async def image_status(self, image: str) -> ImageInfo | None:
        return ImageInfo(id="sha256:fake", repo_tags=(image,)) if image in self.images else None

    async def pull_image(self, image: str, auth: PullAuth | None = None) -> str:
        self.calls.append(("pull_image", image))
        self.pull_auths.append(auth)
        wanted = self.pullable.get(image)
        if image in self.pullable and (wanted is None or wanted == auth):
            self.images.add(image)
            return f"sha256:{image}"
        raise RuntimeError_(f"failed to pull {image}: no registry reachable", code="UNKNOWN")

    async def list_images(self) -> list[ImageInfo]:
        return [ImageInfo(id="sha256:fake", repo_tags=(i,)) for i in sorted(self.images)]

    async def reopen_container_log(self, container_id: str) -> None:
        self.calls.append(("reopen_container_log", self.containers[container_id].config.name))

    async def close(self) -> None:
        return None
