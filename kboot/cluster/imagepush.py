"""``kboot image push`` / ``list`` / ``pull-secret``: the workstation's side of the registry.

HA by replication: every image is written to every control plane's registry (one thread per
control plane, blobs the registry already has are skipped by HEAD), and the push fails naming
each control plane that did not take it, so a tag is never silently on some stores only. A
re-push after fixing a node sends only what that node lacks.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko

from kboot.cluster.registry import (
    MIRROR_PORT,
    PRIVATE_PORT,
    PUSH_PORT,
    Credentials,
    ensure_credentials,
    registry_settings,
)
from kboot.cluster.sshtunnel import Tunnel, reachable
from kboot.cluster.topology import Node, Topology, state_dir, topology_from_inventory
from kboot.errors import ClusterError, ConfigError, KbootError
from kboot.images.distribution import DistributionClient, Endpoint, RegistryError
from kboot.images.layout import MANIFEST_TYPES, ImageSource, ImageSourceError, open_source
from kboot.images.push import PRIVATE_HOST, PushStats, push_image, target
from kboot.inventory import Inventory

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclass(frozen=True)
class RegistryNode:
    node: str
    push: Endpoint
    private: Endpoint
    # the anonymous read-only instance over the public store: where ``skip_tagged`` looks
    # (no password hash to check per request, unlike the push instance); None: the push one
    mirror: Endpoint | None = None


@dataclass
class PushReport:
    per_node: dict[str, PushStats] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # node -> why


def registry_nodes(inventory: Inventory) -> list[RegistryNode]:
    """The control planes' push endpoints with kboot's push credentials; ConfigError when the
    cluster has no registry or no workstation state."""
    if not registry_settings(inventory).enabled:
        raise ConfigError(f"{inventory.source}: cluster.registry is off (use `kboot image "
                          "load`, or turn the registry on and re-run `kboot up`)")
    topo = topology_from_inventory(inventory)
    state = state_dir(topo.name)
    ca = state / "pki" / "ca.crt"
    if not ca.is_file():
        raise ConfigError(f"no cluster state for {topo.name!r} at {state}: run `kboot up` first")
    creds = ensure_credentials(state)
    return [_endpoints(n, ca, creds) for n in topo.control_planes]


@contextlib.contextmanager
def reached_nodes(inventory: Inventory, *, via_ssh: bool | None = None
                  ) -> Iterator[list[RegistryNode]]:
    """:func:`registry_nodes`, each reached directly or through SSH tunnels to the node itself
    (``via_ssh`` True; None: when its push port does not answer from here). With None, a node
    whose tunnel cannot be opened keeps its direct address (the push then fails naming it);
    with True that is an error."""
    tunnels: list[Tunnel] = []
    try:
        out = []
        for reg in registry_nodes(inventory):
            address = reg.push.address.rsplit(":", 1)[0]
            if via_ssh is False or (via_ssh is None and reachable(address, PUSH_PORT)):
                out.append(reg)
                continue
            try:
                push = Tunnel(inventory.hosts[reg.node], (address, PUSH_PORT))
                tunnels.append(push)
                private = Tunnel(inventory.hosts[reg.node], (address, PRIVATE_PORT))
                tunnels.append(private)
            except (KbootError, OSError, paramiko.SSHException) as exc:
                if via_ssh:
                    raise ClusterError(f"{reg.node}: no SSH tunnel to its registry: {exc}"
                                       ) from None
                log.warning("%s: no SSH tunnel to its registry: %s", reg.node, exc)
                out.append(reg)
                continue
            out.append(RegistryNode(
                reg.node, dataclasses.replace(reg.push, address=f"127.0.0.1:{push.port}"),
                dataclasses.replace(reg.private, address=f"127.0.0.1:{private.port}")))
        yield out
    finally:
        for tunnel in tunnels:
            tunnel.close()


def _endpoints(node: Node, ca: Path, creds: Credentials) -> RegistryNode:
    def at(port: int) -> Endpoint:
        return Endpoint(f"{node.ip}:{port}", ca, creds.push_user, creds.push_password)
    return RegistryNode(node.name, at(PUSH_PORT), at(PRIVATE_PORT),
                        Endpoint(f"{node.ip}:{MIRROR_PORT}", ca))


def open_sources(paths: Sequence[Path]) -> list[ImageSource]:
    sources = []
    for path in paths:
        if not path.exists():
            raise ConfigError(f"{path}: no such image tarball or OCI layout directory")
        try:
            sources.append(open_source(path))
        except ImageSourceError as exc:
            for s in sources:
                s.close()
            raise ConfigError(str(exc)) from None
    return sources


def push_to_node(reg: RegistryNode, paths: Sequence[Path], *, chunk_size: int = 0,
                 progress: Progress | None = None, skip_tagged: bool = False) -> PushStats:
    """Every image of ``paths`` into one control plane's stores (sources opened per thread:
    a tarfile is not safe to share). With ``skip_tagged``, an image whose tag already names
    its digest is left alone: one HEAD instead of a walk of its blobs (the registry stored
    that manifest only once every blob and child manifest it names was there)."""
    stats = PushStats()
    clients = {"public": DistributionClient(reg.push), "private": DistributionClient(reg.private)}
    looks = {**clients, "public": DistributionClient(reg.mirror)} if reg.mirror else clients
    sources = open_sources(paths)
    try:
        for source in sources:
            for root in source.roots:
                where = target(root.name)
                if skip_tagged and _tagged(looks[where.store], where.repository, where.tag,
                                           root.digest):
                    continue
                push_image(clients[where.store], source, root.digest, root.media_type,
                           repository=where.repository, tag=where.tag, stats=stats,
                           chunk_size=chunk_size)
                stats.pushed.append(f"{root.name}@{root.digest}")
                if progress:
                    progress(f"{reg.node}: {root.name}")
    finally:
        for source in sources:
            source.close()
        for client in {*clients.values(), *looks.values()}:
            client.close()
    return stats


def _tagged(client: DistributionClient, repository: str, tag: str, digest: str) -> bool:
    """Whether ``repository:tag`` names ``digest`` (an unanswered look is a no: the push that
    follows then says what is wrong, if anything)."""
    try:
        return client.manifest_digest(repository, tag, MANIFEST_TYPES) == digest
    except RegistryError:
        return False


def push_images(inventory: Inventory, paths: Sequence[Path], *, chunk_size: int = 0,
                progress: Progress | None = None, via_ssh: bool | None = None) -> PushReport:
    """Push to every control plane's registry in parallel."""
    for s in open_sources(paths):  # read errors first, before any upload
        s.close()
    with reached_nodes(inventory, via_ssh=via_ssh) as nodes:
        return replicate(nodes, paths, chunk_size=chunk_size, progress=progress)


def replicate(nodes: Sequence[RegistryNode], paths: Sequence[Path], *, chunk_size: int = 0,
              progress: Progress | None = None, skip_tagged: bool = False) -> PushReport:
    report = PushReport()
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        futures = {r.node: pool.submit(push_to_node, r, paths, chunk_size=chunk_size,
                                       progress=progress, skip_tagged=skip_tagged)
                   for r in nodes}
        for name, future in futures.items():
            try:
                report.per_node[name] = future.result()
            except (RegistryError, ImageSourceError, ConfigError) as exc:
                report.failures[name] = str(exc)
    return report


def require_complete(report: PushReport) -> None:
    if report.failures:
        raise ClusterError(
            "the push did not reach every control plane's registry (images must be on each "
            "for pulls to survive the loss of one; fix and push again, present blobs are "
            "skipped):\n  " + "\n  ".join(f"{n}: {why}" for n, why in report.failures.items()))


def push_bundle_images(topo: Topology, state: Path, images_dir: Path) -> None:
    """``kboot up``'s registry-images step: the bundle's images (pause, busybox) into every
    control plane's registry, so nodes pull their sandbox image like any other. An image
    already tagged with its digest costs one request per node (a no-op re-run)."""
    creds = ensure_credentials(state)
    nodes = [_endpoints(n, state / "pki" / "ca.crt", creds) for n in topo.control_planes]
    paths = sorted(images_dir.glob("*.tar"))
    if paths:
        require_complete(replicate(nodes, paths, skip_tagged=True))


def list_images(inventory: Inventory, *, via_ssh: bool | None = None
                ) -> dict[str, dict[str, list[str]]]:
    """``{"public": {repository: tags}, "private": {...}}`` from the first control plane that
    answers (the stores are replicas)."""
    errors = []
    with reached_nodes(inventory, via_ssh=via_ssh) as nodes:
        for reg in nodes:
            try:
                return {store: _contents(DistributionClient(ep))
                        for store, ep in (("public", reg.push), ("private", reg.private))}
            except RegistryError as exc:
                errors.append(f"{reg.node}: {exc}")
    raise ClusterError("no control plane's registry answered:\n  " + "\n  ".join(errors))


def _contents(client: DistributionClient) -> dict[str, list[str]]:
    try:
        return {repo: sorted(client.tags(repo)) for repo in sorted(client.repositories())}
    finally:
        client.close()


def pull_secret(inventory: Inventory, *, name: str, namespace: str) -> dict[str, Any]:
    """A ``kubernetes.io/dockerconfigjson`` Secret with the pull user's credentials for
    :data:`PRIVATE_HOST` (what a pod's ``imagePullSecrets`` names for a private image)."""
    topo = topology_from_inventory(inventory)
    creds = ensure_credentials(state_dir(topo.name))
    auth = base64.b64encode(f"{creds.pull_user}:{creds.pull_password}".encode()).decode()
    config = {"auths": {PRIVATE_HOST: {"username": creds.pull_user,
                                       "password": creds.pull_password, "auth": auth}}}
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": name, "namespace": namespace},
            "data": {".dockerconfigjson": base64.b64encode(
                json.dumps(config).encode()).decode()}}
