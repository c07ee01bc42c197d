"""Service environment variables (upstream ``getServiceEnvVarMap`` and ``pkg/kubelet/envvars``):
every pod sees the ``default/kubernetes`` Service as ``KUBERNETES_SERVICE_HOST`` and friends,
which is how in-cluster clients (client-go's ``InClusterConfig``, the Python client's
``load_incluster_config``) find the apiserver; with ``enableServiceLinks`` (default on) each
Service of the pod's namespace with a ClusterIP adds its docker-link style variables too.
The container's own ``env``/``envFrom`` win over these (:func:`podspec.resolve_env`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from kboot.controlplane.api.shapes import Obj

MASTER_NAMESPACE = "default"
MASTER_SERVICES = frozenset({"kubernetes"})


@runtime_checkable
class ServiceLister(Protocol):
    """What the kubelet knows of Services (its informer's current list)."""

    def services(self) -> list[Obj]: ...


def _var_name(name: str) -> str:
    return name.upper().replace("-", "_")


def _has_cluster_ip(service: Obj) -> bool:
    ip = (service.get("spec") or {}).get("clusterIP")
    return bool(ip) and ip != "None"


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def service_vars(service: Obj) -> dict[str, str]:
    """One Service's variables, upstream's ``FromServices`` for a single Service."""
    spec = service.get("spec") or {}
    prefix, ip = _var_name(service["metadata"]["name"]), str(spec["clusterIP"])
    ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    out = {f"{prefix}_SERVICE_HOST": ip}
    if ports:
        out[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
    for port in ports:
        if port.get("name"):
            out[f"{prefix}_SERVICE_PORT_{_var_name(port['name'])}"] = str(port["port"])
    for i, port in enumerate(ports):
        proto, number = str(port.get("protocol") or "TCP").lower(), int(port["port"])
        url = f"{proto}://{_join(ip, number)}"
        if i == 0:
            out[f"{prefix}_PORT"] = url
        link = f"{prefix}_PORT_{number}_{proto.upper()}"
        out.update({link: url, f"{link}_PROTO": proto, f"{link}_PORT": str(number),
                    f"{link}_ADDR": ip})
    return out


def service_env(services: Iterable[Obj], namespace: str, *,
                enable_service_links: bool = True) -> dict[str, str]:
    """The pod's service variables: the master Services always, its namespace's Services with
    links enabled (a same-named Service of the pod's namespace wins over the master one)."""
    chosen: dict[str, Obj] = {}
    for service in services:
        if not _has_cluster_ip(service):
            continue
        meta = service.get("metadata") or {}
        name, ns = meta.get("name", ""), meta.get("namespace", "")
        if ns == MASTER_NAMESPACE and name in MASTER_SERVICES:
            chosen.setdefault(name, service)
        elif ns == namespace and enable_service_links:
            chosen[name] = service
    out: dict[str, str] = {}
    for name in sorted(chosen):
        out.update(service_vars(chosen[name]))
    return out


def pod_service_env(pod: Obj, lister: object) -> dict[str, str]:
    """The service variables for ``pod`` from ``lister`` (none when it knows no Services)."""
    if not isinstance(lister, ServiceLister):
        return {}
    spec = pod.get("spec") or {}
    return service_env(lister.services(), pod["metadata"].get("namespace", "default"),
                       enable_service_links=spec.get("enableServiceLinks", True) is not False)
