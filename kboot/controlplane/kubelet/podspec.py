"""Pure translation of a v1 Pod into CRI sandbox and container configs.

Everything here is a function of the pod, the node settings and looked-up ConfigMap/Secret
data, so the rules (DNS search path, hostPorts, env precedence, resources → cgroup values) are
unit-tested without a runtime.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from kboot.controlplane.api.podrefs import (
    CLAIMS,
    CONTAINERS,
    INIT_CONTAINERS,
    PodReference,
    pod_references,
)
from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.errors import ControlPlaneError
from kboot.controlplane.kubelet.cri.types import (
    ContainerConfig,
    Mount,
    NamespaceMode,
    PortMapping,
    Resources,
    SandboxConfig,
)

CPU_PERIOD = 100_000
LABEL_NAME = "io.kubernetes.pod.name"
LABEL_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_UID = "io.kubernetes.pod.uid"
LABEL_CONTAINER = "io.kubernetes.container.name"
_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
           "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
           "P": 1e15, "E": 1e18}


class Lookup(Protocol):
    """ConfigMap and Secret data the pod refers to (``None`` when the object is missing)."""

    def configmap(self, namespace: str, name: str) -> Mapping[str, str] | None: ...

    def secret(self, namespace: str, name: str) -> Mapping[str, bytes] | None: ...

    def token(self, namespace: str, service_account: str, audience: str) -> str | None: ...


class ContainerConfigError(ControlPlaneError):
    """The pod refers to something that is missing (``CreateContainerConfigError``)."""


@dataclass(frozen=True)
class NodeSettings:
    log_root: str = "/var/log/pods"
    cgroup_root: str = "/kubepods"
    cluster_dns: tuple[str, ...] = ()
    cluster_domain: str = "cluster.local"


def parse_quantity(text: str | int | float) -> float:
    """``"500m"`` → 0.5, ``"64Mi"`` → 67108864, ``"1e3"`` → 1000."""
    value = str(text).strip()
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if value.endswith(suffix) and value[: -len(suffix)]:
            return float(value[: -len(suffix)]) * _SUFFIX[suffix]
    return float(value)


def references(pod: Obj) -> set[PodReference]:
    """The Secrets and ConfigMaps whose data the kubelet reads (env and volumes of the init
    and regular containers, ``imagePullSecrets`` for registry credentials), prefetched before
    each sync. Left out on purpose: claims (mounted by path, see :mod:`.claims`) and ephemeral
    containers (the kubelet does not run them)."""
    return {ref for ref in pod_references(pod, containers=(INIT_CONTAINERS, CONTAINERS))
            if ref.resource != CLAIMS}


def pod_labels(pod: Obj) -> dict[str, str]:
    meta = pod["metadata"]
    return {LABEL_NAME: meta["name"], LABEL_NAMESPACE: meta.get("namespace", "default"),
            LABEL_UID: meta["uid"]}


def log_directory(pod: Obj, log_root: str) -> str:
    meta = pod["metadata"]
    return f"{log_root}/{meta.get('namespace', 'default')}_{meta['name']}_{meta['uid']}"


def _dns(pod: Obj, node: NodeSettings) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy", "ClusterFirst")
    if spec.get("hostNetwork") and policy == "ClusterFirst":
        policy = "Default"
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet") and node.cluster_dns:
        ns, dom = pod["metadata"].get("namespace", "default"), node.cluster_domain
        servers, searches, options = list(node.cluster_dns), [
            f"{ns}.svc.{dom}", f"svc.{dom}", dom], ["ndots:5"]
    extra = spec.get("dnsConfig") or {}
    servers += extra.get("nameservers") or []
    searches += extra.get("searches") or []
    for opt in extra.get("options") or []:
        options.append(f"{opt['name']}:{opt['value']}" if opt.get("value") else opt["name"])
    return tuple(servers), tuple(searches), tuple(options)


def sandbox_config(pod: Obj, node: NodeSettings, *, attempt: int = 0) -> SandboxConfig:
    meta, spec = pod["metadata"], pod.get("spec") or {}
    ports = [
        PortMapping(container_port=int(p["containerPort"]), host_port=int(p["hostPort"]),
                    protocol=p.get("protocol", "TCP"), host_ip=p.get("hostIP", ""))
        for c in spec.get("containers") or [] for p in c.get("ports") or [] if p.get("hostPort")
    ]
    servers, searches, options = _dns(pod, node)
    return SandboxConfig(
        name=meta["name"], namespace=meta.get("namespace", "default"), uid=meta["uid"],
        # a host-network pod shares the node's UTS namespace: it keeps the node's hostname
        # (runc refuses to set one without a private UTS namespace)
        attempt=attempt, hostname="" if spec.get("hostNetwork")
        else (spec.get("hostname") or meta["name"])[:63],
        log_directory=log_directory(pod, node.log_root), dns_servers=servers,
        dns_searches=searches, dns_options=options, port_mappings=tuple(ports),
        labels=pod_labels(pod), annotations=dict(meta.get("annotations") or {}),
        cgroup_parent=f"{node.cgroup_root}/pod{meta['uid']}",
        host_network=bool(spec.get("hostNetwork")), host_pid=bool(spec.get("hostPID")),
        host_ipc=bool(spec.get("hostIPC")))


def resources(container: Obj) -> Resources:
    res = container.get("resources") or {}
    limits, requests = res.get("limits") or {}, res.get("requests") or {}
    cpu_limit = parse_quantity(limits["cpu"]) if "cpu" in limits else 0.0
    cpu_request = requests.get("cpu", limits.get("cpu"))
    shares = max(2, int(parse_quantity(cpu_request) * 1024)) if cpu_request is not None else 2
    return Resources(
        cpu_period=CPU_PERIOD if cpu_limit else 0,
        cpu_quota=max(1000, int(cpu_limit * CPU_PERIOD)) if cpu_limit else 0,
        cpu_shares=shares,
        memory_limit_in_bytes=int(parse_quantity(limits["memory"])) if "memory" in limits else 0)


def field_value(pod: Obj, path: str, pod_ip: str) -> str:
    """The value of a downward-API ``fieldPath`` (``metadata.name``, ``status.podIP``…)."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    values = {
        "metadata.name": meta["name"], "metadata.namespace": meta.get("namespace", "default"),
        "metadata.uid": meta["uid"], "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip, "status.hostIP": status.get("hostIP", ""),
    }
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    return str(values.get(path, ""))


def _value_from(pod: Obj, src: Obj, lookup: Lookup, pod_ip: str) -> str | None:
    ns = pod["metadata"].get("namespace", "default")
    if "fieldRef" in src:
        return field_value(pod, src["fieldRef"]["fieldPath"], pod_ip)
    for kind in ("configMapKeyRef", "secretKeyRef"):
        if kind in src:
            ref = src[kind]
            data = _source(lookup, kind, ns, ref["name"])
            if data is None or ref["key"] not in data:
                if ref.get("optional"):
                    return None
                raise ContainerConfigError(f"{kind} {ref['name']}/{ref['key']} not found")
            value = data[ref["key"]]
            return value.decode(errors="replace") if isinstance(value, bytes) else value
    return None


def _source(lookup: Lookup, kind: str, ns: str, name: str) -> Mapping[str, str | bytes] | None:
    if kind.startswith("configMap"):
        return lookup.configmap(ns, name)
    return lookup.secret(ns, name)


def _expand(value: str, env: Mapping[str, str]) -> str:
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: env.get(m.group(1), m.group(0)), value).replace("$$", "$")


def resolve_env(pod: Obj, container: Obj, lookup: Lookup, *, pod_ip: str = "",
                service_env: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """Service variables, then envFrom, then env (later wins); ``$(VAR)`` references expanded
    as upstream (service variables included)."""
    ns = pod["metadata"].get("namespace", "default")
    env: dict[str, str] = dict(service_env or {})
    for src in container.get("envFrom") or []:
        kind = "configMapRef" if "configMapRef" in src else "secretRef"
        ref = src[kind]
        data = _source(lookup, kind, ns, ref["name"])
        if data is None:
            if ref.get("optional"):
                continue
            raise ContainerConfigError(f"{kind} {ref['name']} not found")
        for key, raw in data.items():
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
            env[src.get("prefix", "") + key] = text
    for var in container.get("env") or []:
        if "valueFrom" in var:
            value = _value_from(pod, var["valueFrom"], lookup, pod_ip)
            if value is not None:
                env[var["name"]] = value
        else:
            env[var["name"]] = _expand(str(var.get("value", "")), env)
    return list(env.items())


def _pid_mode(spec: Obj, target_id: str) -> NamespaceMode:
    """Upstream's order: the node's (hostPID), a debug target's, the pod's shared one, its own."""
    if spec.get("hostPID"):
        return "node"
    if target_id:
        return "target"
    return "pod" if spec.get("shareProcessNamespace") else "container"


def container_config(pod: Obj, container: Obj, *, attempt: int, envs: list[tuple[str, str]],
                     mounts: tuple[Mount, ...], target_id: str = "") -> ContainerConfig:
    """``target_id``: for an ephemeral container with ``targetContainerName``, the running
    target's container ID, whose PID namespace it joins (``kubectl debug --target``)."""
    env_map = dict(envs)
    spec = pod.get("spec") or {}
    pod_sec = spec.get("securityContext") or {}
    sec = {**pod_sec, **(container.get("securityContext") or {})}
    return ContainerConfig(
        name=container["name"], image=container["image"], attempt=attempt,
        command=tuple(_expand(c, env_map) for c in container.get("command") or []),
        args=tuple(_expand(a, env_map) for a in container.get("args") or []),
        working_dir=container.get("workingDir", ""), envs=tuple(envs), mounts=mounts,
        labels={**pod_labels(pod), LABEL_CONTAINER: container["name"]},
        annotations={"io.kubernetes.container.restartCount": str(attempt)},
        log_path=f"{container['name']}/{attempt}.log",
        stdin=bool(container.get("stdin")), stdin_once=bool(container.get("stdinOnce")),
        tty=bool(container.get("tty")), resources=resources(container),
        privileged=bool(sec.get("privileged")), run_as_user=sec.get("runAsUser"),
        run_as_group=sec.get("runAsGroup"),
        readonly_rootfs=bool(sec.get("readOnlyRootFilesystem")),
        pid_mode=_pid_mode(spec, target_id), ipc_mode="node" if spec.get("hostIPC") else "pod",
        target_id=target_id if _pid_mode(spec, target_id) == "target" else "")
