"""The kubelet's view of a container runtime: plain data shapes and the async ``Runtime`` seam.

The pod-sync logic speaks only these frozen dataclasses, never protobuf, so it runs unchanged
over :class:`~kboot.controlplane.kubelet.cri.grpc_runtime.CriRuntime` (containerd's CRI) and
:class:`~kboot.controlplane.kubelet.cri.fake.FakeRuntime` (unit tests). Times are Unix
nanoseconds as in CRI; states are the CRI enum names in lower case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from kboot.controlplane.errors import ControlPlaneError

ContainerState = Literal["created", "running", "exited", "unknown"]
# CRI NamespaceMode: share the sandbox's namespace, own one, the node's, or a target container's
NamespaceMode = Literal["pod", "container", "node", "target"]
SandboxState = Literal["ready", "notready"]


class RuntimeError_(ControlPlaneError):
    """A runtime call failed; ``code`` is the gRPC status name when there is one."""

    def __init__(self, message: str, *, code: str = "UNKNOWN") -> None:
        super().__init__(message)
        self.code = code


class NotFoundError(RuntimeError_):
    """The sandbox, container or image does not exist."""


@dataclass(frozen=True)
class PortMapping:
    container_port: int
    host_port: int
    protocol: str = "TCP"
    host_ip: str = ""


@dataclass(frozen=True)
class Mount:
    container_path: str
    host_path: str
    readonly: bool = False


@dataclass(frozen=True)
class Resources:
    cpu_period: int = 0
    cpu_quota: int = 0
    cpu_shares: int = 0
    memory_limit_in_bytes: int = 0


@dataclass(frozen=True)
class SandboxConfig:
    name: str
    namespace: str
    uid: str
    attempt: int = 0
    hostname: str = ""
    log_directory: str = ""
    dns_servers: tuple[str, ...] = ()
    dns_searches: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    port_mappings: tuple[PortMapping, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    cgroup_parent: str = ""
    host_network: bool = False
    host_pid: bool = False
    host_ipc: bool = False


@dataclass(frozen=True)
class ContainerConfig:
    name: str
    image: str
    attempt: int = 0
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    working_dir: str = ""
    envs: tuple[tuple[str, str], ...] = ()
    mounts: tuple[Mount, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    log_path: str = ""
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    resources: Resources = Resources()
    privileged: bool = False
    run_as_user: int | None = None
    run_as_group: int | None = None
    readonly_rootfs: bool = False
    pid_mode: NamespaceMode = "container"
    ipc_mode: NamespaceMode = "pod"
    target_id: str = ""  # with pid_mode "target": the container whose PID namespace to join


@dataclass(frozen=True)
class SandboxStatus:
    id: str
    name: str
    namespace: str
    uid: str
    attempt: int
    state: SandboxState
    created_at: int = 0
    ip: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerStatus:
    id: str
    name: str
    attempt: int
    state: ContainerState
    sandbox_id: str = ""
    created_at: int = 0
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    image: str = ""
    image_ref: str = ""
    log_path: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecResult:
    stdout: bytes
    stderr: bytes
    exit_code: int


@dataclass(frozen=True)
class PullAuth:
    """Registry credentials for one pull (CRI ``AuthConfig``; see kubelet.pullsecrets)."""

    username: str = ""
    password: str = ""
    identity_token: str = ""


@dataclass(frozen=True)
class ImageInfo:
    id: str
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    size: int = 0


class Runtime(Protocol):
    """What the kubelet needs from a container runtime (a CRI subset, async)."""

    async def version(self) -> tuple[str, str]: ...  # (runtime name, runtime version)

    async def status(self) -> dict[str, bool]: ...  # condition type -> status

    async def run_sandbox(self, config: SandboxConfig) -> str: ...

    async def stop_sandbox(self, sandbox_id: str) -> None: ...

    async def remove_sandbox(self, sandbox_id: str) -> None: ...

    async def sandbox_status(self, sandbox_id: str) -> SandboxStatus: ...

    async def sandbox_netns(self, sandbox_id: str) -> str: ...  # network namespace path

    async def list_sandboxes(self, *, labels: dict[str, str] | None = None
                             ) -> list[SandboxStatus]: ...

    async def create_container(self, sandbox_id: str, config: ContainerConfig,
                               sandbox: SandboxConfig) -> str: ...

    async def start_container(self, container_id: str) -> None: ...

    async def stop_container(self, container_id: str, timeout: int) -> None: ...

    async def remove_container(self, container_id: str) -> None: ...

    async def list_containers(self, *, sandbox_id: str | None = None,
                              labels: dict[str, str] | None = None) -> list[ContainerStatus]: ...

    async def container_status(self, container_id: str) -> ContainerStatus: ...

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: int) -> ExecResult: ...

    async def attach(self, container_id: str, *, stdin: bool, tty: bool, stdout: bool,
                     stderr: bool) -> str: ...  # the runtime's streaming URL for this attach

    async def image_status(self, image: str) -> ImageInfo | None: ...

    async def pull_image(self, image: str, auth: PullAuth | None = None) -> str: ...

    async def list_images(self) -> list[ImageInfo]: ...

    async def reopen_container_log(self, container_id: str) -> None: ...

    async def close(self) -> None: ...
