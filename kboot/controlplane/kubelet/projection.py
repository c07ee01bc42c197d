"""Files of configMap, secret, downwardAPI and projected volumes.

Each source yields ``path → (bytes, mode)`` (``items``, ``defaultMode`` 0644, per-item ``mode``,
``optional``); a projected volume merges its sources. :func:`write_files` makes a directory hold
exactly those files, each replaced atomically (write + rename) only when it changed, so a
container reading a file never sees half of an update.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.kubelet.podspec import ContainerConfigError, Lookup, field_value

Files = dict[str, tuple[bytes, int]]
DEFAULT_MODE = 0o644


def _select(data: Mapping[str, bytes] | None, source: Obj, what: str, default_mode: int
            ) -> Files:
    if data is None:
        if source.get("optional"):
            return {}
        raise ContainerConfigError(f"{what} not found")
    items = source.get("items")
    if not items:
        return {k: (v, default_mode) for k, v in data.items()}
    out: Files = {}
    for item in items:
        if item["key"] not in data:
            if source.get("optional"):
                continue
            raise ContainerConfigError(f"key {item['key']} of {what} not found")
        out[item["path"]] = (data[item["key"]], int(item.get("mode", default_mode)))
    return out


def configmap_files(pod: Obj, src: Obj, lookup: Lookup, default_mode: int) -> Files:
    ns = pod["metadata"].get("namespace", "default")
    data = lookup.configmap(ns, src["name"])
    encoded = None if data is None else {k: v.encode() for k, v in data.items()}
    return _select(encoded, src, f"configmap {src['name']}", default_mode)


def secret_files(pod: Obj, src: Obj, lookup: Lookup, default_mode: int) -> Files:
    ns = pod["metadata"].get("namespace", "default")
    name = src.get("secretName") or src["name"]
    return _select(lookup.secret(ns, name), src, f"secret {name}", default_mode)


def downward_files(pod: Obj, src: Obj, pod_ip: str, default_mode: int) -> Files:
    out: Files = {}
    for item in src.get("items") or []:
        if "fieldRef" in item:
            value = field_value(pod, item["fieldRef"]["fieldPath"], pod_ip)
            out[item["path"]] = (value.encode(), int(item.get("mode", default_mode)))
    return out


def projected_files(pod: Obj, src: Obj, lookup: Lookup, pod_ip: str) -> Files:
    mode = int(src.get("defaultMode", DEFAULT_MODE))
    out: Files = {}
    for source in src.get("sources") or []:
        if "configMap" in source:
            out.update(configmap_files(pod, source["configMap"], lookup, mode))
        elif "secret" in source:
            out.update(secret_files(pod, source["secret"], lookup, mode))
        elif "downwardAPI" in source:
            out.update(downward_files(pod, source["downwardAPI"], pod_ip, mode))
        elif "serviceAccountToken" in source:
            tok = source["serviceAccountToken"]
            sa = (pod.get("spec") or {}).get("serviceAccountName") or "default"
            token = lookup.token(pod["metadata"].get("namespace", "default"), sa,
                                 tok.get("audience", ""))
            if token is not None:
                out[tok.get("path", "token")] = (token.encode(), mode)
    return out


def write_files(target: Path, files: Files) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for rel, (blob, mode) in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.read_bytes() == blob and path.stat().st_mode & 0o777 == mode:
            continue
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(blob)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    for path in sorted(target.rglob("*"), reverse=True):
        if path.is_file() and str(path.relative_to(target)) not in files \
                and not path.name.startswith("."):
            path.unlink()
