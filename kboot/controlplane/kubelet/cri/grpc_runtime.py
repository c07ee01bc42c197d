"""``CriRuntime``: the :class:`Runtime` over containerd's CRI (``runtime.v1``) with grpc.aio.

Conversion between the kubelet's dataclasses and the hand-written protobuf subset lives here and
only here. gRPC ``NOT_FOUND`` becomes :class:`NotFoundError`; every other failure becomes
:class:`RuntimeError_` carrying the status name, so callers never see grpc types.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from kboot.controlplane.kubelet.cri import api_pb2 as _pb
from kboot.controlplane.kubelet.cri import api_pb2_grpc as _pb_grpc
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

log = logging.getLogger(__name__)
DEFAULT_ENDPOINT = "unix:///run/containerd/containerd.sock"
T = TypeVar("T")
pb: Any = _pb  # generated code: untyped on purpose (excluded from mypy)
pb_grpc: Any = _pb_grpc
_STATES = {0: "created", 1: "running", 2: "exited", 3: "unknown"}
_PROTOCOLS = {"TCP": 0, "UDP": 1, "SCTP": 2}
_NS_MODES = {"pod": 0, "container": 1, "node": 2, "target": 3}


def sandbox_pb(cfg: SandboxConfig) -> Any:
    ns_mode = pb.NODE if cfg.host_network else pb.POD
    pid_mode = pb.NODE if cfg.host_pid else pb.CONTAINER
    ipc_mode = pb.NODE if cfg.host_ipc else pb.POD
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=cfg.name, uid=cfg.uid, namespace=cfg.namespace,
                                       attempt=cfg.attempt),
        hostname=cfg.hostname,
        log_directory=cfg.log_directory,
        dns_config=pb.DNSConfig(servers=list(cfg.dns_servers), searches=list(cfg.dns_searches),
                                options=list(cfg.dns_options)),
        port_mappings=[
            pb.PortMapping(protocol=_PROTOCOLS.get(p.protocol, 0), container_port=p.container_port,
                           host_port=p.host_port, host_ip=p.host_ip)
            for p in cfg.port_mappings
        ],
        labels=cfg.labels,
        annotations=cfg.annotations,
        linux=pb.LinuxPodSandboxConfig(
            cgroup_parent=cfg.cgroup_parent,
            security_context=pb.LinuxSandboxSecurityContext(
                namespace_options=pb.NamespaceOption(network=ns_mode, pid=pid_mode,
                                                     ipc=ipc_mode)),
        ),
    )


def container_pb(cfg: ContainerConfig) -> Any:
    res = cfg.resources
    return pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=cfg.name, attempt=cfg.attempt),
        image=pb.ImageSpec(image=cfg.image),
        command=list(cfg.command),
        args=list(cfg.args),
        working_dir=cfg.working_dir,
        envs=[pb.KeyValue(key=k, value=v) for k, v in cfg.envs],
        mounts=[pb.Mount(container_path=m.container_path, host_path=m.host_path,
                         readonly=m.readonly) for m in cfg.mounts],
        labels=cfg.labels,
        annotations=cfg.annotations,
        log_path=cfg.log_path,
        stdin=cfg.stdin,
        stdin_once=cfg.stdin_once,
        tty=cfg.tty,
        linux=pb.LinuxContainerConfig(
            resources=pb.LinuxContainerResources(
                cpu_period=res.cpu_period, cpu_quota=res.cpu_quota, cpu_shares=res.cpu_shares,
                memory_limit_in_bytes=res.memory_limit_in_bytes),
            security_context=_security(cfg),
        ),
    )


def _security(cfg: ContainerConfig) -> Any:
    ctx = pb.LinuxContainerSecurityContext(
        privileged=cfg.privileged, readonly_rootfs=cfg.readonly_rootfs,
        namespace_options=pb.NamespaceOption(pid=_NS_MODES[cfg.pid_mode],
                                             ipc=_NS_MODES[cfg.ipc_mode],
                                             target_id=cfg.target_id))
    if cfg.run_as_user is not None:
        ctx.run_as_user.value = cfg.run_as_user
    if cfg.run_as_group is not None:
        ctx.run_as_group.value = cfg.run_as_group
    return ctx


def _sandbox_status(s: Any, ip: str = "") -> SandboxStatus:
    return SandboxStatus(
        id=s.id, name=s.metadata.name, namespace=s.metadata.namespace, uid=s.metadata.uid,
        attempt=s.metadata.attempt, state="ready" if s.state == 0 else "notready",
        created_at=s.created_at, ip=ip, labels=dict(s.labels))


def _container_status(s: Any, *, full: bool) -> ContainerStatus:
    common: dict[str, Any] = {
        "id": s.id, "name": s.metadata.name, "attempt": s.metadata.attempt,
        "state": _STATES.get(s.state, "unknown"), "created_at": s.created_at,
        "image": s.image.image, "image_ref": s.image_ref, "labels": dict(s.labels),
    }
    if not full:
        return ContainerStatus(sandbox_id=s.pod_sandbox_id, **common)
    return ContainerStatus(
        started_at=s.started_at, finished_at=s.finished_at, exit_code=s.exit_code,
        reason=s.reason, message=s.message, log_path=s.log_path, **common)


def _image(i: Any) -> ImageInfo:
    return ImageInfo(id=i.id, repo_tags=tuple(i.repo_tags), repo_digests=tuple(i.repo_digests),
                     size=i.size)


def netns_from_info(info: str, sandbox_id: str) -> str:
    try:
        doc = json.loads(info or "{}")
    except ValueError:
        doc = {}
    spaces = (((doc.get("runtimeSpec") or {}).get("linux") or {}).get("namespaces") or [])
    path = next((n.get("path") for n in spaces if n.get("type") == "network"), None)
    if path:
        return str(path)
    if doc.get("pid"):
        return f"/proc/{int(doc['pid'])}/ns/net"
    raise RuntimeError_(f"the runtime does not say where sandbox {sandbox_id}'s network "
                        "namespace is")


class CriRuntime:
    """containerd (or any CRI runtime) at *endpoint*, e.g. ``unix:///run/containerd/…sock``."""

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, *, timeout: float = 120.0) -> None:
        self.endpoint = endpoint
        self._channel = grpc.aio.insecure_channel(endpoint)
        self._rt = pb_grpc.RuntimeServiceStub(self._channel)
        self._img = pb_grpc.ImageServiceStub(self._channel)
        self._timeout = timeout

    async def _call(self, fn: Callable[..., Awaitable[T]], request: Any,
                    timeout: float | None = None, *, bounded: bool = True) -> T:
        """One RPC, with a deadline of *timeout* (default: the runtime's) unless not
        *bounded*."""
        try:
            return await fn(request, timeout=(timeout or self._timeout) if bounded else None)
        except grpc.aio.AioRpcError as exc:
            code = exc.code().name if exc.code() else "UNKNOWN"
            err = NotFoundError if code == "NOT_FOUND" else RuntimeError_
            raise err(exc.details() or code, code=code) from None

    async def close(self) -> None:
        await self._channel.close()

    async def version(self) -> tuple[str, str]:
        r = await self._call(self._rt.Version, pb.VersionRequest(version="v1"))
        return r.runtime_name, r.runtime_version

    async def status(self) -> dict[str, bool]:
        r = await self._call(self._rt.Status, pb.StatusRequest())
        return {c.type: c.status for c in r.status.conditions}

    async def run_sandbox(self, config: SandboxConfig) -> str:
        r = await self._call(self._rt.RunPodSandbox,
                             pb.RunPodSandboxRequest(config=sandbox_pb(config)))
        return str(r.pod_sandbox_id)

    async def stop_sandbox(self, sandbox_id: str) -> None:
        await self._call(self._rt.StopPodSandbox,
                         pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))

    async def remove_sandbox(self, sandbox_id: str) -> None:
        await self._call(self._rt.RemovePodSandbox,
                         pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))

    async def sandbox_status(self, sandbox_id: str) -> SandboxStatus:
        r = await self._call(self._rt.PodSandboxStatus,
                             pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id))
        return _sandbox_status(r.status, ip=r.status.network.ip)

    async def sandbox_netns(self, sandbox_id: str) -> str:
        """The sandbox's network namespace, from containerd's verbose status (its runtime
        spec names the namespace path; the sandbox process's ``/proc/PID/ns/net`` otherwise)."""
        r = await self._call(self._rt.PodSandboxStatus,
                             pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=True))
        return netns_from_info(r.info.get("info", ""), sandbox_id)

    async def list_sandboxes(self, *, labels: dict[str, str] | None = None
                             ) -> list[SandboxStatus]:
        flt = pb.PodSandboxFilter(label_selector=labels or {})
        r = await self._call(self._rt.ListPodSandbox, pb.ListPodSandboxRequest(filter=flt))
        return [_sandbox_status(s) for s in r.items]

    async def create_container(self, sandbox_id: str, config: ContainerConfig,
                               sandbox: SandboxConfig) -> str:
        req = pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=container_pb(config),
                                        sandbox_config=sandbox_pb(sandbox))
        r = await self._call(self._rt.CreateContainer, req)
        return str(r.container_id)

    async def start_container(self, container_id: str) -> None:
        await self._call(self._rt.StartContainer,
                         pb.StartContainerRequest(container_id=container_id))

    async def stop_container(self, container_id: str, timeout: int) -> None:
        req = pb.StopContainerRequest(container_id=container_id, timeout=timeout)
        await self._call(self._rt.StopContainer, req, timeout=self._timeout + timeout)

    async def remove_container(self, container_id: str) -> None:
        await self._call(self._rt.RemoveContainer,
                         pb.RemoveContainerRequest(container_id=container_id))

    async def list_containers(self, *, sandbox_id: str | None = None,
                              labels: dict[str, str] | None = None) -> list[ContainerStatus]:
        flt = pb.ContainerFilter(pod_sandbox_id=sandbox_id or "", label_selector=labels or {})
        r = await self._call(self._rt.ListContainers, pb.ListContainersRequest(filter=flt))
        return [_container_status(c, full=False) for c in r.containers]

    async def container_status(self, container_id: str) -> ContainerStatus:
        r = await self._call(self._rt.ContainerStatus,
                             pb.ContainerStatusRequest(container_id=container_id))
        return _container_status(r.status, full=True)

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: int) -> ExecResult:
        req = pb.ExecSyncRequest(container_id=container_id, cmd=cmd, timeout=timeout)
        # timeout 0 (lifecycle hooks): no deadline, as upstream's CRI client
        r = await self._call(self._rt.ExecSync, req, timeout=timeout + 10, bounded=timeout > 0)
        return ExecResult(stdout=r.stdout, stderr=r.stderr, exit_code=r.exit_code)

    async def attach(self, container_id: str, *, stdin: bool, tty: bool, stdout: bool,
                     stderr: bool) -> str:
        req = pb.AttachRequest(container_id=container_id, stdin=stdin, tty=tty, stdout=stdout,
                               stderr=stderr)
        r = await self._call(self._rt.Attach, req)
        return str(r.url)

    async def image_status(self, image: str) -> ImageInfo | None:
        r = await self._call(self._img.ImageStatus,
                             pb.ImageStatusRequest(image=pb.ImageSpec(image=image)))
        return _image(r.image) if r.HasField("image") and r.image.id else None

    async def pull_image(self, image: str, auth: PullAuth | None = None) -> str:
        # no server_address: containerd then offers the credentials to the host its hosts.toml
        # resolves the name to (a mirror), not only to the image's own registry host
        cred = (pb.AuthConfig(username=auth.username, password=auth.password,
                              identity_token=auth.identity_token) if auth else None)
        r = await self._call(self._img.PullImage,
                             pb.PullImageRequest(image=pb.ImageSpec(image=image), auth=cred),
                             timeout=60)
        return str(r.image_ref)

    async def list_images(self) -> list[ImageInfo]:
        r = await self._call(self._img.ListImages, pb.ListImagesRequest())
        return [_image(i) for i in r.images]

    async def reopen_container_log(self, container_id: str) -> None:
        await self._call(self._rt.ReopenContainerLog,
                         pb.ReopenContainerLogRequest(container_id=container_id))
