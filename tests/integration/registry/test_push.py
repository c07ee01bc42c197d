"""kboot's registry client and push against real docker-registry processes (kboot's config)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kboot.cluster.imagepush import RegistryNode, _contents, push_to_node, replicate
from kboot.images import ImageConfig, build_busybox, layer_tar
from kboot.images.distribution import DistributionClient, Endpoint, RegistryError
from kboot.images.layout import DOCKER_MANIFEST, MEDIA_INDEX
from kboot.images.oci import Entry
from tests.integration.registry.harness import Registry, run_registry

MANIFESTS = ("application/vnd.oci.image.manifest.v1+json", MEDIA_INDEX, DOCKER_MANIFEST)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with run_registry(tmp_path_factory.mktemp("registry")) as reg:
        yield reg


def node(reg: Registry) -> RegistryNode:
    return RegistryNode("cp1", reg.endpoint("push"), reg.endpoint("private"))


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar(files: dict[str, bytes]) -> bytes:
    return layer_tar(Entry(path, data=data) for path, data in files.items())


def test_push_then_anonymous_pull_through_the_mirror_and_no_resend(registry: Registry,
                                                                    tmp_path: Path) -> None:
    image = build_busybox(tmp_path / "bb.tar", name="docker.io/library/busybox:latest")
    first = push_to_node(node(registry), [tmp_path / "bb.tar"])
    assert (first.blobs_sent, first.manifests) == (2, 1)
    mirror = DistributionClient(registry.endpoint("mirror"))
    got = mirror.get_manifest("docker.io/library/busybox", "latest", MANIFESTS)
    assert got.headers["docker-content-digest"] == image.manifest_digest
    assert mirror.has_blob("docker.io/library/busybox", image.layer_digests[0])
    again = push_to_node(node(registry), [tmp_path / "bb.tar"])
    assert (again.blobs_sent, again.blobs_skipped) == (0, 2)


def test_an_image_tagged_with_its_digest_is_left_alone_by_skip_tagged(registry: Registry,
                                                                       tmp_path: Path) -> None:
    """``kboot up``'s registry-images step on a re-run: one HEAD per image, nothing sent; a
    tag that names another digest (an image replaced in the bundle) is pushed again."""
    name = "docker.io/library/skiptagged:1"
    build_busybox(tmp_path / "a.tar", name=name)
    looking = dataclasses.replace(node(registry), mirror=registry.endpoint("mirror"))
    first = push_to_node(looking, [tmp_path / "a.tar"], skip_tagged=True)
    assert (first.manifests, first.blobs_sent) == (1, 2)
    again = push_to_node(looking, [tmp_path / "a.tar"], skip_tagged=True)
    assert (again.manifests, again.blobs_sent, again.blobs_skipped) == (0, 0, 0)
    other = build_busybox(tmp_path / "b.tar", name=name, config=ImageConfig(cmd=("true",)))
    moved = push_to_node(looking, [tmp_path / "b.tar"], skip_tagged=True)
    assert (moved.manifests, moved.blobs_sent, moved.blobs_skipped) == (1, 1, 1)
    got = DistributionClient(registry.endpoint("mirror")).get_manifest(
        "docker.io/library/skiptagged", "1", MANIFESTS)
    assert got.headers["docker-content-digest"] == other.manifest_digest
    # a mirror that does not answer: the look is a no, the push goes on (present blobs skipped)
    unanswered = dataclasses.replace(node(registry), mirror=Endpoint("127.0.0.1:1"))
    pushed = push_to_node(unanswered, [tmp_path / "b.tar"], skip_tagged=True)
    assert (pushed.manifests, pushed.blobs_sent, pushed.blobs_skipped) == (1, 0, 2)


def test_the_mirror_refuses_writes_and_the_push_instance_wants_credentials(
        registry: Registry) -> None:
    with pytest.raises(RegistryError, match=r"405|UNSUPPORTED|unsupported"):
        DistributionClient(registry.endpoint("mirror")).request(
            "POST", "/v2/docker.io/library/x/blobs/uploads/", expect=(202,))
    with pytest.raises(RegistryError, match="401"):
        DistributionClient(registry.endpoint("push", user="anonymous")).ping()


def test_private_images_need_the_pull_credentials(registry: Registry, tmp_path: Path) -> None:
    build_busybox(tmp_path / "p.tar", name="registry.kboot.internal/team/app:1")
    stats = push_to_node(node(registry), [tmp_path / "p.tar"])
    assert stats.pushed[0].startswith("registry.kboot.internal/team/app:1@sha256:")
    with pytest.raises(RegistryError, match="401"):
        DistributionClient(registry.endpoint("private", user="anonymous")).get_manifest(
            "team/app", "1", MANIFESTS)
    pulled = DistributionClient(registry.endpoint("private", user="pull")).get_manifest(
        "team/app", "1", MANIFESTS)
    assert pulled.status == 200
    assert "team/app" not in _contents(DistributionClient(registry.endpoint("push")))


def _docker_archive(path: Path) -> tuple[bytes, bytes]:
    layer = _tar({"hello.txt": b"hi\n"})
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [_sha(layer)]}}).encode()
    manifest = json.dumps([{"Config": "cfg.json", "RepoTags": ["example.com/tools/hi:2"],
                            "Layers": ["abc/layer.tar"]}]).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("manifest.json", manifest), ("cfg.json", config),
                           ("abc/layer.tar", layer)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return layer, config


def test_a_docker_archive_becomes_a_schema2_manifest(registry: Registry, tmp_path: Path) -> None:
    layer, config = _docker_archive(tmp_path / "saved.tar")
    push_to_node(node(registry), [tmp_path / "saved.tar"], chunk_size=4096)  # chunked uploads
    got = DistributionClient(registry.endpoint("mirror")).get_manifest(
        "example.com/tools/hi", "2", MANIFESTS)
    doc = json.loads(got.body)
    assert doc["mediaType"] == DOCKER_MANIFEST
    assert doc["config"]["digest"] == _sha(config)
    assert [x["digest"] for x in doc["layers"]] == [_sha(layer)]


def _multi_arch_layout(root: Path) -> list[str]:
    """An OCI layout directory whose one tag is an index of two platforms."""
    blobs: dict[str, bytes] = {}
    entries = []
    for arch in ("amd64", "arm64"):
        layer = _tar({f"{arch}.txt": arch.encode()})
        config = json.dumps({"architecture": arch, "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [_sha(layer)]}}).encode()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFESTS[0],
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": _sha(config), "size": len(config)},
                               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                           "digest": _sha(layer), "size": len(layer)}]}).encode()
        blobs.update({_sha(b): b for b in (layer, config, manifest)})
        entries.append({"mediaType": MANIFESTS[0], "digest": _sha(manifest),
                        "size": len(manifest), "platform": {"architecture": arch, "os": "linux"}})
    index = json.dumps({"schemaVersion": 2, "mediaType": MEDIA_INDEX,
                        "manifests": entries}).encode()
    blobs[_sha(index)] = index
    top = {"schemaVersion": 2, "manifests": [{
        "mediaType": MEDIA_INDEX, "digest": _sha(index), "size": len(index),
        "annotations": {"org.opencontainers.image.ref.name": "ghcr.io/acme/multi:3"}}]}
    (root / "blobs/sha256").mkdir(parents=True)
    (root / "index.json").write_text(json.dumps(top))
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    for digest, data in blobs.items():
        (root / "blobs/sha256" / digest.split(":")[1]).write_bytes(data)
    return [e["digest"] for e in entries]


def test_a_multi_arch_index_is_kept(registry: Registry, tmp_path: Path) -> None:
    platforms = _multi_arch_layout(tmp_path / "layout")
    report = replicate([node(registry)], [tmp_path / "layout"])
    assert not report.failures
    mirror = DistributionClient(registry.endpoint("mirror"))
    top = mirror.get_manifest("ghcr.io/acme/multi", "3", MANIFESTS)
    assert json.loads(top.body)["mediaType"] == MEDIA_INDEX
    for digest in platforms:
        assert mirror.manifest_digest("ghcr.io/acme/multi", digest, MANIFESTS) == digest


def test_a_failed_node_is_reported_by_name(registry: Registry, tmp_path: Path) -> None:
    build_busybox(tmp_path / "bb.tar", name="docker.io/library/busybox:fail",
                  config=ImageConfig(cmd=("true",)))
    dead = RegistryNode("cp-dead", registry.endpoint("push"), registry.endpoint("private"))
    dead = RegistryNode("cp-dead", dead.push.__class__("127.0.0.1:1", registry.ca_file),
                        dead.private)
    report = replicate([node(registry), dead], [tmp_path / "bb.tar"])
    assert set(report.per_node) == {"cp1"}
    assert "127.0.0.1:1" in report.failures["cp-dead"]
