"""Reading images to push: OCI image layouts (tar or directory) and ``docker save`` archives.

What ``kboot image push`` needs from an image source is its named roots (a manifest or a
multi-arch index, by digest and media type) and a way to open any blob by digest. OCI layouts
already are that. A classic docker-archive (``manifest.json`` + ``<id>/layer.tar``) has no
distribution manifest: one is written here (Docker schema 2, the layers as they are in the
archive, digests computed by streaming), so the registry receives what ``docker push`` would
have sent for an uncompressed image. Blobs are opened lazily and streamed: a 1 GB layer is never
held in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kboot.images.oci import MEDIA_INDEX, MEDIA_MANIFEST, normalise_name

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
INDEX_TYPES = (MEDIA_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (MEDIA_MANIFEST, DOCKER_MANIFEST, MEDIA_INDEX, DOCKER_LIST)
_CHUNK = 1 << 20


class ImageSourceError(ValueError):
    """A path given to ``kboot image push`` is not an image kboot can read (says why)."""


@dataclass(frozen=True)
class Root:
    """One named image of a source: what a tag will point to."""

    name: str  # normalised: docker.io/library/busybox:latest
    digest: str
    media_type: str


@dataclass
class ImageSource:
    """The images of one tar or directory and their blobs, opened on demand."""

    path: Path
    roots: list[Root]
    _open: Callable[[str], IO[bytes]]
    _sizes: dict[str, int] = field(default_factory=dict)
    _made: dict[str, bytes] = field(default_factory=dict)  # blobs written here (docker-archive)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @contextlib.contextmanager
    def blob(self, digest: str) -> Iterator[IO[bytes]]:
        """A readable stream of blob ``digest``."""
        if digest in self._made:
            yield io.BytesIO(self._made[digest])
            return
        stream = self._open(digest)
        try:
            yield stream
        finally:
            stream.close()

    def read(self, digest: str) -> bytes:
        with self.blob(digest) as stream:
            return stream.read()

    def size(self, digest: str) -> int:
        if digest in self._made:
            return len(self._made[digest])
        if digest not in self._sizes:
            with self.blob(digest) as stream:
                self._sizes[digest] = sum(len(c) for c in iter(lambda: stream.read(_CHUNK), b""))
        return self._sizes[digest]

    def close(self) -> None:
        for close in self._closers:
            close()


def open_source(path: Path) -> ImageSource:
    """An OCI layout (tar or directory) or a docker-archive tar; raises ImageSourceError."""
    if path.is_dir():
        return _from_files(path, lambda rel: (path / rel).open("rb"),
                           lambda rel: (path / rel).is_file())
    try:
        tar = tarfile.open(path)  # noqa: SIM115 - closed by ImageSource.close
    except (OSError, tarfile.TarError) as exc:
        raise ImageSourceError(f"{path}: not an image tarball or OCI layout directory "
                               f"({exc})") from None
    members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}

    def opener(rel: str) -> IO[bytes]:
        member = members.get(rel)
        stream = tar.extractfile(member) if member else None
        if stream is None:
            raise ImageSourceError(f"{path}: {rel} is missing from the archive")
        return stream

    source = _from_files(path, opener, lambda rel: rel in members)
    source._closers.append(tar.close)
    for rel, member in members.items():
        if rel.startswith("blobs/sha256/"):
            source._sizes["sha256:" + rel.rsplit("/", 1)[1]] = member.size
    return source


def _from_files(path: Path, opener: Callable[[str], IO[bytes]],
                exists: Callable[[str], bool]) -> ImageSource:
    def load(rel: str) -> Any:
        with opener(rel) as f:
            try:
                return json.loads(f.read())
            except json.JSONDecodeError as exc:
                raise ImageSourceError(f"{path}: {rel} is not JSON ({exc})") from None

    def blob_opener(digest: str) -> IO[bytes]:
        algo, _, hexpart = digest.partition(":")
        return opener(f"blobs/{algo}/{hexpart}")

    docker = load("manifest.json") if exists("manifest.json") else None
    if exists("index.json"):
        roots = _oci_roots(path, load("index.json"), docker)
        return ImageSource(path, roots, blob_opener)
    if docker is not None:
        return _docker_archive(path, docker, opener)
    raise ImageSourceError(f"{path}: neither an OCI layout (index.json) nor a docker-archive "
                           "(manifest.json)")


def _oci_roots(path: Path, index: Any, docker: Any) -> list[Root]:
    """Named entries of ``index.json``; the name from containerd's annotation, else the OCI
    ref name when it is a full reference, else ``docker save``'s RepoTags."""
    repo_tags = [t for entry in docker or [] for t in entry.get("RepoTags") or []]
    roots = []
    for desc in index.get("manifests") or []:
        notes = desc.get("annotations") or {}
        name = notes.get("io.containerd.image.name") or ""
        ref = notes.get("org.opencontainers.image.ref.name") or ""
        if not name and ("/" in ref or ":" in ref):
            name = ref
        if not name and len(repo_tags) == 1:
            name = repo_tags[0]
        if name and desc.get("mediaType") in MANIFEST_TYPES:
            roots.append(Root(normalise_name(name), desc["digest"], desc["mediaType"]))
    if not roots:
        raise ImageSourceError(f"{path}: index.json names no image (expected the annotation "
                               "io.containerd.image.name or org.opencontainers.image.ref.name)")
    return roots


def _digest_of(opener: Callable[[str], IO[bytes]], rel: str) -> tuple[str, int, bool]:
    h, size, head = hashlib.sha256(), 0, b""
    with opener(rel) as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            head = head or chunk[:2]
            h.update(chunk)
            size += len(chunk)
    return "sha256:" + h.hexdigest(), size, head == b"\x1f\x8b"


def _docker_archive(path: Path, entries: Any, opener: Callable[[str], IO[bytes]]
                    ) -> ImageSource:
    """A schema-2 manifest per ``manifest.json`` entry, blobs mapped to the archive's files."""
    files: dict[str, str] = {}
    made: dict[str, bytes] = {}
    sizes: dict[str, int] = {}
    roots = []
    for entry in entries:
        config_digest, config_size, _ = _digest_of(opener, entry["Config"])
        files[config_digest], sizes[config_digest] = entry["Config"], config_size
        layers = []
        for rel in entry.get("Layers") or []:
            digest, size, gzipped = _digest_of(opener, rel)
            files[digest], sizes[digest] = rel, size
            layers.append({"mediaType": DOCKER_LAYER_GZIP if gzipped else DOCKER_LAYER,
                           "digest": digest, "size": size})
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "digest": config_digest, "size": config_size},
            "layers": layers}, sort_keys=True, separators=(",", ":")).encode()
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        made[digest] = manifest
        roots += [Root(normalise_name(tag), digest, DOCKER_MANIFEST)
                  for tag in entry.get("RepoTags") or []]
    if not roots:
        raise ImageSourceError(f"{path}: the docker-archive has no RepoTags (save it by name: "
                               "docker save NAME:TAG)")

    def blob_opener(digest: str) -> IO[bytes]:
        if digest not in files:
            raise ImageSourceError(f"{path}: no blob {digest}")
        return opener(files[digest])

    return ImageSource(path, roots, blob_opener, _sizes=sizes, _made=made)


def children(media_type: str, document: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    """A manifest's referenced manifests (index entries) and blobs (config and layers)."""
    doc = json.loads(document)
    if media_type in INDEX_TYPES:
        return list(doc.get("manifests") or []), []
    blobs = [doc["config"]["digest"], *(layer["digest"] for layer in doc.get("layers") or [])]
    return [], blobs
