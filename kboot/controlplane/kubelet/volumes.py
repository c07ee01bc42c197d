"""Pod volumes on the node: where each lives, how its content is produced, how it is mounted.

Layout: ``<root-dir>/pods/<uid>/volumes/<plugin>/<name>``. emptyDir is a directory there (so
it survives container restarts and goes with the pod); configMap and secret volumes are
directories of files rewritten atomically (write + rename) whenever :meth:`setup` runs again,
which the kubelet does on every sync, so updates to the object reach running containers
through the bind mount; hostPath and persistentVolumeClaim volumes point at node paths (a
claim's path is resolved by the kubelet from its bound PV — see :mod:`.claims`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.errors import ControlPlaneError
from kboot.controlplane.kubelet import projection
from kboot.controlplane.kubelet.cri.types import Mount
from kboot.controlplane.kubelet.podspec import ContainerConfigError, Lookup

log = logging.getLogger(__name__)


_FILE_PLUGINS = {"configMap": "kubernetes.io~configmap", "secret": "kubernetes.io~secret",
                 "downwardAPI": "kubernetes.io~downward-api",
                 "projected": "kubernetes.io~projected"}


def _files(pod: Obj, kind: str, src: Obj, lookup: Lookup, pod_ip: str) -> projection.Files:
    mode = int(src.get("defaultMode", projection.DEFAULT_MODE))
    if kind == "configMap":
        return projection.configmap_files(pod, src, lookup, mode)
    if kind == "secret":
        return projection.secret_files(pod, src, lookup, mode)
    if kind == "downwardAPI":
        return projection.downward_files(pod, src, pod_ip, mode)
    return projection.projected_files(pod, src, lookup, pod_ip)


class VolumeNotReady(ControlPlaneError):
    """A volume cannot be set up yet (an unbound claim): the pod waits in
    ``ContainerCreating``, as upstream's volume manager does, never a config error."""


class VolumeManager:
    """Prepares and removes the volumes of pods under ``<root_dir>/pods``."""

    def __init__(self, root_dir: str | Path) -> None:
        self.root = Path(root_dir)

    def pod_dir(self, uid: str) -> Path:
        return self.root / "pods" / uid

    def _dir(self, uid: str, plugin: str, name: str) -> Path:
        return self.pod_dir(uid) / "volumes" / plugin / name

    def setup(self, pod: Obj, lookup: Lookup, *, claims: Mapping[str, str] | None = None,
              pod_ip: str = "") -> dict[str, str]:
        """Create or refresh every volume of *pod*; returns volume name → host path."""
        uid, ns = pod["metadata"]["uid"], pod["metadata"].get("namespace", "default")
        paths: dict[str, str] = {}
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            name = vol["name"]
            if "emptyDir" in vol:
                path = self._dir(uid, "kubernetes.io~empty-dir", name)
                path.mkdir(parents=True, exist_ok=True)
            elif "hostPath" in vol:
                path = Path(vol["hostPath"]["path"])
                if vol["hostPath"].get("type") in ("DirectoryOrCreate", None, ""):
                    with contextlib.suppress(OSError):
                        path.mkdir(parents=True, exist_ok=True)
            elif any(k in vol for k in _FILE_PLUGINS):
                kind = next(k for k in _FILE_PLUGINS if k in vol)
                path = self._dir(uid, _FILE_PLUGINS[kind], name)
                projection.write_files(path, _files(pod, kind, vol[kind], lookup, pod_ip))
            elif "persistentVolumeClaim" in vol:
                claim = vol["persistentVolumeClaim"]["claimName"]
                if not claims or claim not in claims:
                    raise VolumeNotReady(f"waiting for persistentVolumeClaim {claim} to be "
                                         "bound")
                path = Path(claims[claim])
                path.mkdir(parents=True, exist_ok=True)
            else:
                log.warning("pod %s/%s: unsupported volume %s", ns, pod["metadata"]["name"], name)
                continue
            paths[name] = str(path)
        return paths

    def teardown(self, uid: str) -> None:
        shutil.rmtree(self.pod_dir(uid), ignore_errors=True)


def container_mounts(container: Obj, paths: Mapping[str, str]) -> tuple[Mount, ...]:
    """CRI mounts for *container*'s volumeMounts (subPath resolved under the volume)."""
    out = []
    for vm in container.get("volumeMounts") or []:
        host = paths.get(vm["name"])
        if host is None:
            raise ContainerConfigError(f"volume {vm['name']} not found")
        if vm.get("subPath"):
            host = os.path.join(host, vm["subPath"])
            if not os.path.exists(host):
                os.makedirs(host, exist_ok=True)
        out.append(Mount(container_path=vm["mountPath"], host_path=host,
                         readonly=bool(vm.get("readOnly"))))
    return tuple(out)
