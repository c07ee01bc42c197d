"""The cluster registry: settings from the inventory, credentials, certificate, playbook vars.

On every control plane ``kboot up`` runs Debian's ``docker-registry`` (the CNCF distribution
registry 2.8) three times over two stores under :data:`HOST_DIR`:

========  =====  ==================================  =================================
instance  port   store                               access
========  =====  ==================================  =================================
mirror    5000   ``public``   (read-only mode)       anonymous pulls (nodes' containerd)
push      5001   ``public``                          htpasswd: kboot's push user only
private   5002   ``private``                         htpasswd: push user + pull user
========  =====  ==================================  =================================

Why three: distribution 2.8's htpasswd auth covers every request of an instance, so one
instance cannot take anonymous pulls and authenticated pushes. Two instances on one store split
the two (the read-only one refuses writes); "private" images are a store of their own that
only credentialed pulls (a pod's ``imagePullSecrets``) reach. Every node's haproxy forwards
``127.0.0.1:5000`` and ``127.0.0.1:5002`` to the control planes' instances, so the address is
the same on every node and survives the loss of a control plane. Pushes are replicated: the
workstation writes every image to every control plane's store (:mod:`kboot.cluster.imagepush`).

Credentials are made once on the workstation (``registry/credentials.json``, 0600, with the
cluster's other state); the hosts receive bcrypt htpasswd files only.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt

from kboot import pki
from kboot.cluster.pki import HOST_CONFIG_DIR as HOST_CONFIG_DIR_ROOT
from kboot.cluster.pki import HOST_PKI_DIR, PkiResult, PushedFile
from kboot.cluster.topology import Topology
from kboot.errors import InventoryError, Location
from kboot.images.push import PRIVATE_HOST, namespace
from kboot.inventory import Inventory

HOST_DIR = "/var/lib/kboot/registry"
HOST_CONFIG_DIR = "/etc/kboot/registry"
HOST_HTPASSWD_DIR = HOST_CONFIG_DIR_ROOT
MIRROR_PORT, PUSH_PORT, PRIVATE_PORT = 5000, 5001, 5002
DEFAULT_MIRRORS = ("docker.io", "registry.k8s.io", "ghcr.io", "quay.io", "kboot.io")
PUSH_USER, PULL_USER = "kboot-push", "kboot-pull"
STATE_DIR = "registry"


@dataclass(frozen=True)
class RegistrySettings:
    """``cluster.registry`` of the inventory."""

    enabled: bool = True
    mirrors: tuple[str, ...] = DEFAULT_MIRRORS  # defaults + the user's ``mirrors``
    upstream: bool = False  # also try the real registry after the cluster registry


@dataclass(frozen=True)
class Credentials:
    push_user: str
    push_password: str
    pull_user: str
    pull_password: str


def registry_settings(inv: Inventory) -> RegistrySettings:
    """``cluster.registry``: ``false`` (off), or a mapping with ``enabled``, ``mirrors`` (extra
    registry hosts to mirror) and ``upstream`` (bool); InventoryError otherwise."""
    raw = inv.cluster.get("registry", {})
    where = Location(inv.source)
    if isinstance(raw, bool):
        return RegistrySettings(enabled=raw)
    if not isinstance(raw, dict):
        raise InventoryError(f"expected true/false or a mapping, got {raw!r}", location=where,
                             field="cluster.registry")
    unknown = set(raw) - {"enabled", "mirrors", "upstream"}
    if unknown:
        raise InventoryError(f"unknown keys {sorted(unknown)} (expected enabled, mirrors, "
                             "upstream)", location=where, field="cluster.registry")
    mirrors = raw.get("mirrors") or []
    if not isinstance(mirrors, list) or not all(isinstance(m, str) and m and "/" not in m
                                                for m in mirrors):
        raise InventoryError("expected a list of registry hosts (e.g. [registry.example.com, "
                             f"myreg:5000]), got {mirrors!r}", location=where,
                             field="cluster.registry.mirrors")
    for key in ("enabled", "upstream"):
        if not isinstance(raw.get(key, False), bool):
            raise InventoryError(f"expected true or false, got {raw[key]!r}", location=where,
                                 field=f"cluster.registry.{key}")
    return RegistrySettings(enabled=bool(raw.get("enabled", True)),
                            mirrors=tuple(dict.fromkeys([*DEFAULT_MIRRORS, *mirrors])),
                            upstream=bool(raw.get("upstream", False)))


def ensure_credentials(state: Path) -> Credentials:
    """The push and pull users' passwords (made once) and the htpasswd files built from them."""
    path = state / STATE_DIR / "credentials.json"
    if not path.exists():
        doc = {"push": {"username": PUSH_USER, "password": secrets.token_urlsafe(24)},
               "pull": {"username": PULL_USER, "password": secrets.token_urlsafe(24)}}
        pki.write_atomic(path, json.dumps(doc, indent=2).encode(), mode=0o600)
    doc = json.loads(path.read_text())
    creds = Credentials(doc["push"]["username"], doc["push"]["password"],
                        doc["pull"]["username"], doc["pull"]["password"])
    # bcrypt salts: written once per credentials file, so re-runs push nothing new
    for name, users in (("push.htpasswd", [(creds.push_user, creds.push_password)]),
                        ("private.htpasswd", [(creds.push_user, creds.push_password),
                                              (creds.pull_user, creds.pull_password)])):
        target = state / STATE_DIR / name
        if not target.exists() or target.stat().st_mtime < path.stat().st_mtime:
            lines = "".join(f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(10)).decode()}\n"
                            for u, p in users)
            pki.write_atomic(target, lines.encode(), mode=0o600)
    return creds


def ensure_registry_pki(state: Path, topo: Topology) -> Path:
    """One serving certificate for every control plane's registry, from the cluster CA:
    SANs = the control planes' addresses, the api_vip, 127.0.0.1 (each node's haproxy),
    ``localhost`` and :data:`PRIVATE_HOST`. Reissued when that list changes."""
    ca = pki.load_pair(state / "pki", "ca")
    if ca is None:
        raise RuntimeError(f"{state}/pki/ca: the cluster CA must exist first (ensure_pki)")
    ips = tuple(dict.fromkeys([*(n.ip for n in topo.control_planes), "127.0.0.1",
                               *([topo.api_vip] if topo.api_vip else [])]))
    spec = pki.CertSpec("kboot-registry", dns_names=(PRIVATE_HOST, "localhost"),
                        ip_addresses=ips, server=True)
    directory = state / STATE_DIR
    pair = pki.load_pair(directory, "registry")
    if pair is None or pki.reuse_problem(pair.cert, spec, ca.cert) is not None:
        pki.save_pair(pki.issue(ca, spec), directory, "registry")
    return directory


def add_registry_files(result: PkiResult, state: Path, topo: Topology) -> None:
    """Add the registry's certificate, key and htpasswd files to each control plane's push
    list (the ``pki`` phase copies them)."""
    directory = ensure_registry_pki(state, topo)
    ensure_credentials(state)
    for node in topo.control_planes:
        result.files.setdefault(node.name, []).extend([
            PushedFile(str(directory / "registry.crt"), f"{HOST_PKI_DIR}/registry.crt", "0644"),
            PushedFile(str(directory / "registry.key"), f"{HOST_PKI_DIR}/registry.key"),
            # next to the other pushed configuration (the registry's own directory is made
            # later, by the registry phase)
            PushedFile(str(directory / "push.htpasswd"),
                       f"{HOST_HTPASSWD_DIR}/registry-push.htpasswd"),
            PushedFile(str(directory / "private.htpasswd"),
                       f"{HOST_HTPASSWD_DIR}/registry-private.htpasswd"),
        ])


def registry_vars(settings: RegistrySettings, topo: Topology, creds: Credentials
                  ) -> dict[str, Any]:
    """What the playbooks and templates need (``registry_enabled`` false: nothing else used)."""
    return {
        "registry_enabled": settings.enabled,
        "registry_dir": HOST_DIR,
        "registry_config_dir": HOST_CONFIG_DIR,
        "registry_ports": {"mirror": MIRROR_PORT, "push": PUSH_PORT, "private": PRIVATE_PORT},
        "registry_endpoints": [{"name": n.name, "address": n.ip} for n in topo.control_planes],
        "registry_private_host": PRIVATE_HOST,
        "registry_upstream": settings.upstream,
        # signs upload state; the same on every instance so any of them can finish an upload
        "registry_http_secret": hashlib.sha256(
            f"kboot-registry:{creds.push_password}".encode()).hexdigest(),
        "registry_mirrors": [{"host": h, "namespace": namespace(h),
                              "upstream": _upstream_url(h)} for h in settings.mirrors],
    }


def _upstream_url(host: str) -> str:
    """The real registry behind a mirrored name (Docker Hub's API host is not docker.io)."""
    return "https://registry-1.docker.io" if host == "docker.io" else f"https://{host}"
