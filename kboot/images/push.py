"""Copying images into a registry, and where an image name lives in kboot's cluster registry.

The cluster registry mirrors several public registries in one store, so each upstream gets its
own namespace: ``docker.io/library/busybox:latest`` is stored as repository
``docker.io/library/busybox``, ``registry.k8s.io/pause:3.10`` as ``registry.k8s.io/pause``.
containerd reaches them with ``override_path`` mirrors (``/v2/docker.io/…``), so two upstreams'
``pause`` never collide. Names under :data:`PRIVATE_HOST` go to the private store, repository =
the path (``registry.kboot.internal/team/app:1`` → ``team/app``).

A push walks an image top-down and uploads bottom-up: for an index, each platform's manifest
(by digest) first; for a manifest, the blobs the registry lacks (HEAD), then the manifest; the
tag goes on last, so a puller never sees a tag whose content is incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kboot.images.distribution import DistributionClient
from kboot.images.layout import MANIFEST_TYPES, ImageSource, ImageSourceError, children

PRIVATE_HOST = "registry.kboot.internal"


@dataclass(frozen=True)
class Target:
    """Where a name goes: the store (``public``/``private``), the repository and the tag."""

    store: str
    repository: str
    tag: str


@dataclass
class PushStats:
    blobs_sent: int = 0
    blobs_skipped: int = 0
    bytes_sent: int = 0
    manifests: int = 0
    pushed: list[str] = field(default_factory=list)  # "name@digest"


def namespace(host: str) -> str:
    """A registry host as one repository path component (``myreg:5000`` → ``myreg-5000``:
    a colon is not allowed in repository names)."""
    return host.lower().replace(":", "-")


def target(name: str) -> Target:
    """The store, repository and tag of a normalised name (``host/path:tag``)."""
    rest, _, tag = name.rpartition(":")
    if "/" in tag or not rest:
        raise ImageSourceError(f"{name}: expected a tagged name (host/path:tag)")
    host, _, path = rest.partition("/")
    if host == PRIVATE_HOST:
        return Target("private", path, tag)
    return Target("public", f"{namespace(host)}/{path}", tag)


def push_image(client: DistributionClient, source: ImageSource, digest: str, media_type: str,
               *, repository: str, tag: str, stats: PushStats, chunk_size: int = 0) -> None:
    """Push one root (manifest or index) of ``source`` and tag it."""
    _push_manifest(client, source, repository, digest, media_type, stats, chunk_size)
    client.put_manifest(repository, tag, media_type, source.read(digest))
    stats.manifests += 1


def _push_manifest(client: DistributionClient, source: ImageSource, repo: str, digest: str,
                   media_type: str, stats: PushStats, chunk_size: int) -> None:
    body = source.read(digest)
    manifests, blobs = children(media_type, body)
    for child in manifests:
        if child.get("mediaType") not in MANIFEST_TYPES:
            continue
        try:
            _push_manifest(client, source, repo, child["digest"], child["mediaType"], stats,
                           chunk_size)
        except (KeyError, OSError, ImageSourceError) as exc:
            platform = child.get("platform") or {}
            raise ImageSourceError(
                f"{source.path}: the index lists {platform.get('os', '?')}/"
                f"{platform.get('architecture', '?')} ({child['digest']}) but its content is "
                f"not in the archive ({exc}); export every platform (ctr image export "
                "--all-platforms) or push a single-platform image") from None
        client.put_manifest(repo, child["digest"], child["mediaType"], source.read(
            child["digest"]))
        stats.manifests += 1
    for blob in blobs:
        if client.has_blob(repo, blob):
            stats.blobs_skipped += 1
            continue
        size = source.size(blob)
        with source.blob(blob) as stream:
            client.upload_blob(repo, blob, size, stream, chunk_size=chunk_size)
        stats.blobs_sent += 1
        stats.bytes_sent += size
