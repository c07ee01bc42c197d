"""The admin kubeconfig for users: written by ``kboot up``, merged into ``~/.kube/config`` by
``kboot kubeconfig --merge`` under a named context (clusters, users and contexts of other
clusters are kept; entries with the same names are replaced)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from kboot.errors import ConfigError
from kboot.pki import write_atomic


def load_kubeconfig(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [],
                "contexts": [], "preferences": {}}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not a valid kubeconfig: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a valid kubeconfig: expected a mapping")
    return data


def renamed(config: dict[str, Any], context: str) -> dict[str, Any]:
    """A single-cluster kubeconfig with its cluster, user and context all named ``context``."""
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    ctx = dict(config["contexts"][0]["context"], cluster=context, user=context)
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": context, "user": user}],
        "contexts": [{"name": context, "context": ctx}],
        "current-context": context,
    }


def merge(into: dict[str, Any], new: dict[str, Any], *, set_current: bool = True) -> dict[str, Any]:
    out = dict(into)
    for section in ("clusters", "users", "contexts"):
        names = {e["name"] for e in new.get(section) or []}
        kept = [e for e in out.get(section) or [] if e.get("name") not in names]
        out[section] = kept + list(new.get(section) or [])
    if set_current or not out.get("current-context"):
        out["current-context"] = new["current-context"]
    out.setdefault("apiVersion", "v1")
    out.setdefault("kind", "Config")
    return out


def default_kubeconfig_path() -> Path:
    first = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return Path(first) if first else Path.home() / ".kube" / "config"


def merge_into_file(admin: Path, *, context: str, target: Path | None = None) -> Path:
    target = target or default_kubeconfig_path()
    merged = merge(load_kubeconfig(target), renamed(load_kubeconfig(admin), context))
    write_atomic(target, yaml.safe_dump(merged, sort_keys=False).encode(), mode=0o600)
    return target
